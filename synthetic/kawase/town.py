"""川瀬市: population, life events dated against each body's extract, the five exports.

Shapes and rates (all per household unless said otherwise; ``dirty`` multiplies every
recording-error rate by 2.5):

* households of 1–5 children (38/42/15/4/1 %), gaps between siblings 1–7 years
  (triangular, mode 2.5), ages 0–17 on the reference date 2026-04-01;
* 1.0 % of births are twins and 0.01 % triplets (the Japanese multiple-birth rate is
  about 1 % of deliveries); 45 % of twin pairs get names that share their first kanji
  (陽翔 / 陽菜), the hard case for bigram encodings;
* 24 % of households live in six large apartment blocks (団地): one 番地 per block and
  hundreds of rooms, so many children share an address apart from the room (方書), which
  some bodies do not record;
* 9 % of households moved within the 18 months before the reference date (15 % of them
  twice); each body holds the address valid at its own extract date minus its own update
  lag, so a move falls between the extracts of some bodies and before all of others;
* 2 % of households changed the children's surname (parents' divorce or remarriage) at a
  date in the last two years; the register records 旧氏 for 70 % of them, the school keeps
  the former surname as 通称 for 40 %, other bodies follow their extract date;
* 4 % of households are foreign residents (:data:`tables.FOREIGN`); the register holds the
  roman name (kanji for CN/KR), other bodies mostly the katakana 通称;
* fields missing per body at their own rates (:data:`BODY_SPECS`), typing errors as in
  :mod:`synthetic.kawase.typos`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import yaml

from synthetic import files
from synthetic.kawase import tables
from synthetic.kawase.typos import date_typo, kanji_typo, keyed_typo

REFERENCE_DATE = date(2026, 4, 1)
ERROR_LEVELS = {"normal": 1.0, "dirty": 2.5}


def _rng(seed: int, label: str) -> random.Random:
    digest = hashlib.sha256(f"kawase:{seed}:{label}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Pool:
    """Weighted draw from ``items``."""

    items: tuple
    cum: tuple[float, ...]

    def draw(self, rng: random.Random):
        return rng.choices(self.items, cum_weights=self.cum)[0]


def _mixed_pool(head: list, head_exp: float, head_share: float, tail: list) -> Pool:
    head_w = [(r + 1) ** -head_exp for r in range(len(head))]
    scale = head_share / sum(head_w)
    tail_w = [(1 - head_share) / len(tail)] * len(tail)
    return Pool(tuple(head + tail), tuple(accumulate([w * scale for w in head_w] + tail_w)))


@lru_cache(maxsize=1)
def name_pools() -> dict[str, Pool]:
    """``surname`` -> (kanji, reading); ``male``/``female`` -> (kanji, readings)."""
    import gimei

    path = Path(gimei.__file__).parent / "data" / "names.yml"
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    head_s = list(tables.SURNAMES)
    known = {k for k, _ in head_s}
    tail_s = sorted({(str(k), str(kt)) for k, _h, kt in data["last_name"] if str(k) not in known})
    pools = {"surname": _mixed_pool(head_s, tables.SURNAME_EXPONENT, tables.SURNAME_HEAD_SHARE,
                                    tail_s)}  # fmt: skip
    for sex, head in (("male", tables.BOY_NAMES), ("female", tables.GIRL_NAMES)):
        names = {k for k, _ in head}
        tail = sorted({(str(k), (str(kt),)) for k, _h, kt in data["first_name"][sex]
                       if str(k) not in names})  # fmt: skip
        pools[sex] = _mixed_pool(list(head), tables.GIVEN_EXPONENT, tables.GIVEN_HEAD_SHARE, tail)
    return pools


@dataclass(frozen=True)
class Address:
    """An address in 川瀬市: 町名, 丁目 (0 = none), 番地, 号, building and room (or '')."""

    town: str
    chome: int
    banchi: int
    go: int
    building: str = ""
    room: str = ""


@dataclass
class Child:
    """One true child. ``addresses``: (valid from, address), oldest first."""

    person_id: str
    household: int
    surname: str
    surname_kana: str
    given: str
    given_kana: str
    sex: str
    dob: date
    addresses: list[tuple[date, Address]]
    twin: bool = False
    nationality: str = ""
    roman: str = ""  # "SURNAME GIVEN"
    alias: tuple[str, str] | None = None  # 通称 (kanji or katakana full name, reading)
    former: tuple[str, str] | None = None  # (former surname, its reading)
    surname_changed: date | None = None
    missing: set[str] = field(default_factory=set)  # filled during rendering

    def address_at(self, when: date) -> Address:
        current = self.addresses[0][1]
        for since, addr in self.addresses:
            if since <= when:
                current = addr
        return current

    def surname_at(self, when: date) -> tuple[str, str]:
        if self.former and self.surname_changed and when < self.surname_changed:
            return self.former
        return self.surname, self.surname_kana

    @property
    def moved(self) -> bool:
        return len(self.addresses) > 1


def _random_address(rng: random.Random) -> Address:
    building, room = "", ""
    if rng.random() < 0.25:
        building = rng.choice(("ハイツ", "コーポ", "メゾン", "レジデンス")) + rng.choice(
            ("川瀬", "旭", "若葉", "青葉", "栄")
        )
        room = str(rng.randint(1, 4) * 100 + rng.randint(1, 8))
    return Address(rng.choice(tables.TOWNS), rng.choice((0, 1, 2, 3, 4, 5)),
                   rng.randint(1, 40), rng.randint(1, 30), building, room)  # fmt: skip


_BLOCK_SITES = [
    Address(tables.TOWNS[(3 * i + 1) % len(tables.TOWNS)], 1 + i % 4, 10 + 7 * i, 1, b)
    for i, b in enumerate(tables.BLOCKS)
]


def _block_address(rng: random.Random) -> Address:
    site = rng.choice(_BLOCK_SITES)
    room = f"{rng.randint(1, 9)}-{rng.randint(1, 14)}{rng.randint(1, 12):02d}"
    return Address(site.town, site.chome, site.banchi, site.go, site.building, room)


def _pick_name(sex: str, rng: random.Random, share_with: str = "") -> tuple[str, str]:
    pool = name_pools()["male" if sex == "1" else "female"]
    for _ in range(200 if share_with else 1):
        kanji, readings = pool.draw(rng)
        if not share_with or (kanji[0] == share_with[0] and kanji != share_with):
            return kanji, rng.choice(readings)
    return kanji, rng.choice(readings)


def _foreign_identity(rng: random.Random) -> tuple[str, str, str, str, str]:
    """(nationality, kanji-or-katakana surname, reading, roman surname, kanji?)."""
    codes = list(tables.FOREIGN)
    nat = rng.choices(codes, weights=[tables.FOREIGN[c][0] for c in codes])[0]
    _share, surnames, _given, kanji = tables.FOREIGN[nat]
    i = rng.randrange(len(surnames))
    roman, kana = surnames[i].split(":")
    return nat, (kanji[i] if kanji and i < len(kanji) else ""), kana, roman, ""


def build_children(n: int, seed: int) -> list[Child]:
    """The true population: at least ``n`` children grouped into households."""
    rng = _rng(seed, "population")
    pools = name_pools()
    children: list[Child] = []
    hh = 0
    while len(children) < n:
        hh += 1
        size = rng.choices((1, 2, 3, 4, 5), weights=(38, 42, 15, 4, 1))[0]
        foreign = rng.random() < 0.04
        if foreign:
            nat, sur_kanji, sur_kana, sur_roman, _ = _foreign_identity(rng)
            surname = sur_kanji or sur_kana
        else:
            nat, sur_roman = "", ""
            surname, sur_kana = pools["surname"].draw(rng)
        home = _block_address(rng) if rng.random() < 0.24 else _random_address(rng)
        addresses = [(date(1900, 1, 1), home)]
        if rng.random() < 0.09:
            when = REFERENCE_DATE - timedelta(days=rng.randint(10, 540))
            new = _block_address(rng) if rng.random() < 0.3 else _random_address(rng)
            addresses.append((when, new))
            if rng.random() < 0.15:
                later = when + timedelta(
                    days=rng.randint(30, max(31, (REFERENCE_DATE - when).days))
                )
                if later < REFERENCE_DATE:
                    addresses.append((later, _random_address(rng)))
        former = None
        changed = None
        if not foreign and rng.random() < 0.02:
            former = (surname, sur_kana)
            surname, sur_kana = pools["surname"].draw(rng)
            changed = REFERENCE_DATE - timedelta(days=rng.randint(10, 730))
        youngest = REFERENCE_DATE - timedelta(days=rng.randint(0, 18 * 365 - 1))
        dobs: list[tuple[date, int]] = []
        d = youngest
        births = 0
        while births < size and (REFERENCE_DATE - d).days < 18 * 365:
            r = rng.random()
            mult = 3 if r < 0.0001 else 2 if r < 0.0101 else 1
            dobs.extend([(d, mult)] * mult)  # a multiple birth may exceed the drawn size
            births += 1
            d = d - timedelta(days=int(rng.triangular(365, 7 * 365, 2.5 * 365)))
        by_date: dict[date, list[Child]] = {}
        for dob, mult in dobs:
            sex = rng.choice("12")
            siblings = by_date.setdefault(dob, [])
            share = siblings[0].given if siblings and mult > 1 and rng.random() < 0.45 else ""
            if foreign:
                _s, _sur, given_list, _k = tables.FOREIGN[nat]
                g_roman, g_kana = rng.choice(given_list).split(":")
                given, given_kana = g_kana, g_kana
                if sur_kanji_given := (surname != sur_kana):
                    given = rng.choice(tables.CN_KR_GIVEN_KANJI)
                del sur_kanji_given
                roman = f"{sur_roman} {g_roman}"
            else:
                given, given_kana = _pick_name(sex, rng, share)
                roman = ""
                while any(s.given == given for s in siblings):
                    given, given_kana = _pick_name(sex, rng)
            child = Child(
                person_id=f"K{len(children):07d}", household=hh, surname=surname,
                surname_kana=sur_kana, given=given, given_kana=given_kana, sex=sex, dob=dob,
                addresses=addresses, twin=mult > 1, nationality=nat, roman=roman,
                former=former, surname_changed=changed,
            )  # fmt: skip
            if foreign and rng.random() < 0.5:
                if rng.random() < 0.3:
                    alias_s, alias_k = pools["surname"].draw(rng)
                    alias_g, alias_gk = _pick_name(sex, rng)
                    child.alias = (f"{alias_s}\u3000{alias_g}", f"{alias_k} {alias_gk}")
                else:
                    child.alias = (f"{sur_kana}\u3000{given_kana}", f"{sur_kana} {given_kana}")
            siblings.append(child)
            children.append(child)
    return children[:n] if len(children) > n else children


# -- bodies -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BodySpec:
    """One body's export: file, columns, styles, extract date, update lag, coverage."""

    key: str
    filename: str
    encoding: str
    crlf: bool
    columns: tuple[str, ...]
    date_style: str
    sex_style: tuple[str, str]
    kana_style: str  # "kata", "hira", "half"
    address_style: str  # "register", "short", "kanji", "dash"
    keeps_room: float  # share of records whose building/room is written
    extract_days: int  # days before the reference date
    lag_days: int  # mean days before a move or name change reaches the body
    missing: dict[str, float]  # canonical field -> share missing
    id_prefix: str


BODY_SPECS: tuple[BodySpec, ...] = (
    BodySpec("jumin", "juminkiroku.csv", "utf-8", False,
             ("住民番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所", "旧氏", "通称",
              "氏名_外国人ローマ字"),
             "wareki_kanji", ("男", "女"), "kata", "register", 1.0, 0, 7,
             {"kana": 0.002, "address": 0.0, "sex": 0.0}, ""),
    BodySpec("gakko", "gakurei.csv", "utf-8-sig", False,
             ("管理番号", "氏", "名", "氏_フリガナ", "名_フリガナ", "生年月日", "性別", "住所",
              "通称", "学年"),
             "slash", ("男子", "女子"), "kata", "short", 0.6, 60, 45,
             {"kana": 0.01, "sex": 0.01, "address": 0.01}, "G"),
    BodySpec("hoiku", "hoikujoho.csv", "cp932", True,
             ("レコードID", "氏名", "フリガナ", "生年月日", "性別", "住所", "施設名"),
             "wareki_letter", ("1", "2"), "hira", "kanji", 0.3, 30, 30,
             {"kana": 0.08, "sex": 0.02, "address": 0.03}, "N"),
    BodySpec("kenshin", "kenshin.csv", "cp932", True,
             ("宛名番号", "氏名", "氏名カナ", "生年月日", "性別", "住所"),
             "compact", ("男性", "女性"), "half", "dash", 0.0, 120, 60,
             {"kana": 0.05, "sex": 0.005, "address": 0.02, "dob": 0.002}, "B"),
    BodySpec("jidou", "jidouteate.csv", "utf-8", False,
             ("管理番号", "氏", "名", "氏名_フリガナ", "生年月日", "性別", "住所", "旧氏",
              "氏名_外国人ローマ字"),
             "era_code", ("1", "2"), "kata", "register", 0.8, 90, 20,
             {"kana": 0.02, "address": 0.03, "sex": 0.0}, "J"),
)  # fmt: skip


def _age(dob: date) -> int:
    return REFERENCE_DATE.year - dob.year - ((REFERENCE_DATE.month, REFERENCE_DATE.day)
                                             < (dob.month, dob.day))  # fmt: skip


def _covers(spec: BodySpec, c: Child, rng: random.Random) -> bool:
    age = _age(c.dob)
    share = {
        "jumin": 1.0,
        "gakko": 0.97 if 6 <= age <= 15 else 0.0,
        "hoiku": 0.6 if 1 <= age <= 5 else 0.0,
        "kenshin": 0.95 if age <= 3 else 0.0,
        "jidou": 0.9 if age <= 15 else 0.0,
    }[spec.key]
    return rng.random() < share


_HIRA = {chr(k): chr(k - 0x60) for k in range(0x30A1, 0x30F7)}
_FULL_KANA = (
    "アイウエオカキクケコサシスセソタチツテトナニヌネノ"
    "ハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォッャュョー"
)
_HALF_KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｯｬｭｮｰ"
_HALF = dict(zip(_FULL_KANA, _HALF_KANA, strict=True))
_HALF_VOICED = {
    **{v: _HALF[k] + "ﾞ" for k, v in zip("カキクケコサシスセソタチツテトハヒフヘホ",
                                        "ガギグゲゴザジズゼゾダヂヅデドバビブベボ", strict=True)},
    **{v: _HALF[k] + "ﾟ" for k, v in zip("ハヒフヘホ", "パピプペポ", strict=True)},
    "ヴ": "ｳﾞ",
}  # fmt: skip
_KANJI_NUM = "〇一二三四五六七八九"


def _kana(text: str, style: str) -> str:
    if style == "hira":
        return "".join(_HIRA.get(ch, ch) for ch in text)
    if style == "half":
        return "".join(_HALF_VOICED.get(ch) or _HALF.get(ch, ch) for ch in text)
    return text


def _date(d: date, style: str) -> str:
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "compact":
        return f"{d.year}{d.month:02d}{d.day:02d}"
    era, letter, code, start = (("令和", "R", 5, 2018) if d >= date(2019, 5, 1)
                                else ("平成", "H", 4, 1988))  # fmt: skip
    y = d.year - start
    if style == "wareki_kanji":
        return f"{era}{'元' if y == 1 else y}年{d.month}月{d.day}日"
    if style == "wareki_letter":
        return f"{letter}{y}.{d.month}.{d.day}"
    return f"{code}{y:02d}{d.month:02d}{d.day:02d}"  # era_code


def _address(a: Address, style: str, keep_room: bool) -> str:
    room = f"\u3000{a.building}{a.room}" if keep_room and a.building else ""
    if style == "register":
        chome = f"{_KANJI_NUM[a.chome]}丁目" if a.chome else ""
        return f"川瀬市{a.town}{chome}{a.banchi}番地{a.go}{room}"
    if style == "kanji":
        chome = f"{a.chome}丁目" if a.chome else ""
        return f"川瀬市{a.town}{chome}{a.banchi}番{a.go}号{room}"
    lot = f"{a.chome}-{a.banchi}-{a.go}" if a.chome else f"{a.banchi}-{a.go}"
    if style == "short":
        return f"{a.town}{lot}{room}"
    return f"川瀬市{a.town}{lot}{room}"  # dash


def _render(c: Child, spec: BodySpec, rng: random.Random, scale: float, rid: str) -> list[str]:
    reg = spec.key == "jumin"
    err = scale * (0.2 if reg else 1.0)
    when = REFERENCE_DATE - timedelta(
        days=spec.extract_days + int(rng.expovariate(1 / spec.lag_days))
    )
    surname, sur_kana = c.surname_at(when)
    given, given_kana = c.given, c.given_kana
    former = ""
    alias = ""
    if c.former and surname == c.surname:
        if (reg and rng.random() < 0.7) or (not reg and rng.random() < 0.3):
            former = c.former[0]
        if spec.key == "gakko" and rng.random() < 0.4:
            alias = f"{c.former[0]}\u3000{given}"
    roman = c.roman
    if c.nationality:
        kanji_name = surname != sur_kana
        if reg:
            if not kanji_name:
                surname, given = c.roman.split(" ", 1)
            alias = c.alias[0] if c.alias and rng.random() < 0.8 else ""
        else:
            r = rng.random()
            if c.alias and r < 0.4:
                surname, given = c.alias[0].split("\u3000")
            elif r < 0.8 and not kanji_name:
                surname, given = sur_kana, given_kana
            elif not kanji_name:  # roman, given name first
                s_r, g_r = c.roman.split(" ", 1)
                surname, given = g_r, s_r
    if rng.random() < 0.008 * err:
        given = kanji_typo(given, rng)
    if rng.random() < 0.004 * err:
        surname = kanji_typo(surname, rng)
    if rng.random() < 0.015 * err:
        given_kana = keyed_typo(given_kana, rng)
    if rng.random() < 0.008 * err:
        sur_kana = keyed_typo(sur_kana, rng)
    dob = f"{c.dob.year}{c.dob.month:02d}{c.dob.day:02d}"
    if rng.random() < 0.01 * err:
        dob = date_typo(dob, rng)
    dob_text = _date(date(int(dob[:4]), int(dob[4:6]), int(dob[6:])), spec.date_style)
    addr = c.address_at(when)
    addr_text = _address(addr, spec.address_style, rng.random() < spec.keeps_room)
    if rng.random() < 0.015 * err:
        addr_text = keyed_typo(addr_text, rng)
    sex = spec.sex_style[0 if c.sex == "1" else 1]
    kana_full = f"{_kana(sur_kana, spec.kana_style)} {_kana(given_kana, spec.kana_style)}"
    missing = {f for f, p in spec.missing.items() if rng.random() < p * scale}
    if missing:
        c.missing |= missing
    if "kana" in missing:
        kana_full = ""
    if "sex" in missing:
        sex = ""
    if "address" in missing:
        addr_text = ""
    if "dob" in missing:
        dob_text = ""
    values = {
        "id": rid,
        "氏名": f"{surname}\u3000{given}",
        "氏": surname,
        "名": given,
        "kana_full": kana_full,
        "氏_フリガナ": "" if "kana" in missing else _kana(sur_kana, spec.kana_style),
        "名_フリガナ": "" if "kana" in missing else _kana(given_kana, spec.kana_style),
        "生年月日": dob_text,
        "性別": sex,
        "住所": addr_text,
        "旧氏": former,
        "通称": alias,
        "氏名_外国人ローマ字": roman if reg or rng.random() < 0.7 else "",
        "学年": f"{max(1, _age(c.dob) - 5)}年",
        "施設名": rng.choice(("川瀬保育園", "旭こども園", "若葉保育所")),
    }
    out = []
    for col in spec.columns:
        if col in ("住民番号", "管理番号", "レコードID", "宛名番号"):
            out.append(rid)
        elif (
            col in ("氏名_フリガナ", "フリガナ", "氏名カナ") and "氏" not in spec.columns
        ) or col == "氏名_フリガナ":
            out.append(values["kana_full"])
        else:
            out.append(values[col])
    return out


@dataclass
class Export:
    """One body's CSV export and the truth of its rows (``person_ids[i]`` for ``rows[i]``)."""

    spec: BodySpec
    rows: list[list[str]]
    record_ids: list[str]
    person_ids: list[str]

    def to_bytes(self) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n" if self.spec.crlf else "\n")
        writer.writerow(self.spec.columns)
        writer.writerows(self.rows)
        return buf.getvalue().encode(self.spec.encoding, errors="replace")


@dataclass
class KawaseTown:
    """The second synthetic municipality: same surface as ``synthetic.Municipality``."""

    persons: list[Child]
    bodies: dict[str, Export]
    seed: int
    error_level: str

    @property
    def truth(self) -> dict[tuple[str, str], str]:
        """(body key, record id) -> person id."""
        return {(k, r): p for k, e in self.bodies.items()
                for r, p in zip(e.record_ids, e.person_ids, strict=True)}  # fmt: skip

    def subgroups(self) -> dict[str, set[str]]:
        """Person ids: ``foreign``, ``changed_surname``, ``moved``, ``twins``, ``missing``."""
        return {
            "foreign": {c.person_id for c in self.persons if c.nationality},
            "changed_surname": {c.person_id for c in self.persons if c.former},
            "moved": {c.person_id for c in self.persons if c.moved},
            "twins": {c.person_id for c in self.persons if c.twin},
            "missing": {c.person_id for c in self.persons if c.missing},
        }

    def twin_pairs(self) -> list[tuple[str, str]]:
        """Every pair of children born together into one household."""
        by: dict[tuple[int, date], list[str]] = {}
        for c in self.persons:
            if c.twin:
                by.setdefault((c.household, c.dob), []).append(c.person_id)
        return [(a, b) for ids in by.values() for i, a in enumerate(ids) for b in ids[i + 1 :]]

    def write_exports(self, folder: Path) -> dict[str, Path]:
        """Write one CSV per body into ``folder``; returns body key -> path."""
        return files.write_exports(self.bodies, folder)

    def write_truth(self, path: Path) -> Path:
        """Write the truth as CSV ``body,record_id,person_id`` (UTF-8)."""
        return files.write_truth(self.truth, path)


def generate(n_children: int = 2000, *, seed: int = 0, error_level: str = "normal") -> KawaseTown:
    """Generate 川瀬市 with ``n_children`` children; same arguments, same bytes."""
    if error_level not in ERROR_LEVELS:
        raise ValueError(f"error_level must be one of {sorted(ERROR_LEVELS)}, not {error_level!r}")
    if n_children < 1:
        raise ValueError("n_children must be at least 1")
    scale = ERROR_LEVELS[error_level]
    children = build_children(n_children, seed)
    bodies: dict[str, Export] = {}
    for spec in BODY_SPECS:
        rng = _rng(seed, f"body:{spec.key}")
        members = [c for c in children if _covers(spec, c, rng)]
        rng.shuffle(members)
        ids = [f"{spec.id_prefix}{i:09d}" for i in rng.sample(range(10**8, 10**9), len(members))]
        rows = [_render(c, spec, rng, scale, rid) for c, rid in zip(members, ids, strict=True)]
        bodies[spec.key] = Export(spec, rows, ids, [c.person_id for c in members])
    return KawaseTown(children, bodies, seed, error_level)
