"""The true population of the synthetic city: households, children, life events.

Everything here is the ground truth; recording differences are added later, per body,
in :mod:`synthetic.render`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from synthetic.names import (
    NATIONALITY_WEIGHTS,
    ForeignName,
    NameEntry,
    foreign_name,
    japanese_pools,
)

REFERENCE_DATE = date(2026, 4, 1)
"""The day the exports are taken; ages are counted on this day (fixed for determinism)."""

CITY = "架橋市"
TOWNS: tuple[str, ...] = (
    "本町",
    "栄町",
    "旭町",
    "桜台",
    "若葉",
    "緑が丘",
    "虹ヶ丘",
    "東雲",
    "港南",
    "川端町",
    "松風",
    "梅ヶ枝町",
    "泉",
    "青葉台",
    "中央",
    "北原",
    "南野",
    "西浜",
    "霞ヶ浦",
    "柳町",
    "富士見",
    "高砂",
    "日の出町",
    "清水台",
)
_BUILDINGS: tuple[str, ...] = (
    "架橋ハイツ",
    "コーポ桜",
    "メゾン若葉",
    "グランドパレス虹ヶ丘",
    "サンライズ東雲",
    "市営港南住宅",
    "ハイム松風",
    "レジデンス中央",
    "ヴィラ青葉",
)

# Registered (戸籍) variant forms of common characters. A person whose surname contains
# the common form is registered with the variant at ``VARIANT_REGISTERED_RATE``.
KANJI_VARIANTS: dict[str, tuple[str, ...]] = {
    "高": ("髙",),
    "崎": ("﨑", "嵜"),
    "辺": ("邊", "邉"),
    "斎": ("齋", "齊"),
    "沢": ("澤",),
    "浜": ("濱",),
    "島": ("嶋",),
    "吉": ("𠮷",),
}
VARIANT_REGISTERED_RATE = 0.2


@dataclass(frozen=True)
class Address:
    """An address in the fictional city. ``chome == 0`` means the town has no 丁目."""

    town: str
    chome: int
    banchi: int
    go: int
    building: str = ""
    room: str = ""


@dataclass
class Person:
    """One child as the truth knows them.

    ``surname``/``given`` are the names as registered in the resident record (for foreign
    residents: kanji if their nationality uses kanji, else katakana). ``former_surname``
    is set for children whose surname changed by adoption; ``old_address`` for children
    whose household moved within the city.
    """

    person_id: str
    household_id: int
    sex: str  # "M" or "F"
    dob: date
    surname: NameEntry
    given: NameEntry
    address: Address
    former_surname: NameEntry | None = None
    old_address: Address | None = None
    nationality: str = ""  # "" for Japanese nationals
    foreign_surname: ForeignName | None = None
    foreign_given: ForeignName | None = None
    alias: tuple[NameEntry, NameEntry] | None = None  # 通称 (surname, given)
    twin: bool = False

    @property
    def roman_name(self) -> str:
        """Roman-letter name, surname first (foreign residents only, else '')."""
        if self.foreign_surname is None or self.foreign_given is None:
            return ""
        return f"{self.foreign_surname.roman} {self.foreign_given.roman}"

    def age(self, on: date = REFERENCE_DATE) -> int:
        """Age in completed years on ``on``."""
        return on.year - self.dob.year - ((on.month, on.day) < (self.dob.month, self.dob.day))


@dataclass(frozen=True)
class LifeEventRates:
    """Per-household rates of events that make bodies' records legitimately differ."""

    moved: float
    adopted: float
    foreign: float = 0.03
    twins: float = 0.02


def _address(rng: random.Random) -> Address:
    town = rng.choice(TOWNS)
    chome = 0 if TOWNS.index(town) % 5 == 4 else rng.randint(1, 5)
    banchi, go = rng.randint(1, 45), rng.randint(1, 30)
    if rng.random() < 0.3:
        building = rng.choice(_BUILDINGS)
        room = f"{rng.randint(1, 12)}{rng.randint(1, 8):02d}"
        return Address(town, chome, banchi, go, building, room)
    return Address(town, chome, banchi, go)


def _registered_form(rng: random.Random, entry: NameEntry) -> NameEntry:
    """Return the surname as registered: sometimes with a traditional variant character."""
    chars = [c for c in entry.kanji if c in KANJI_VARIANTS]
    if not chars or rng.random() >= VARIANT_REGISTERED_RATE:
        return entry
    c = rng.choice(chars)
    return NameEntry(entry.kanji.replace(c, rng.choice(KANJI_VARIANTS[c]), 1), entry.kana)


def _birth_dates(rng: random.Random, k: int, first: date, last: date) -> list[date]:
    """``k`` sibling birth dates, at least ~13 months apart, within [first, last]."""
    span = (last - first).days
    anchor = first + timedelta(days=rng.randint(0, span))
    dates = [anchor]
    direction = rng.choice((-1, 1))
    for _ in range(k - 1):
        step = timedelta(days=rng.randint(400, 2200))
        nxt = dates[-1] + direction * step
        if not first <= nxt <= last:
            direction, nxt = -direction, (min(dates) if direction > 0 else max(dates))
            nxt = nxt + direction * step
            if not first <= nxt <= last:
                break
        dates.append(nxt)
    return sorted(dates)


def _given(rng: random.Random, sex: str, avoid: set[str]) -> NameEntry:
    pool = japanese_pools()["male" if sex == "M" else "female"]
    for _ in range(20):
        entry = pool.draw(rng)
        if entry.kanji not in avoid:
            return entry
    return entry


def build_population(n_children: int, rng: random.Random, rates: LifeEventRates) -> list[Person]:
    """Draw households until there are exactly ``n_children`` children aged 0–18."""
    pools = japanese_pools()
    last = REFERENCE_DATE
    first = date(last.year - 19, last.month, last.day) + timedelta(days=1)
    persons: list[Person] = []
    household = 0
    while len(persons) < n_children:
        household += 1
        k = rng.choices((1, 2, 3, 4), weights=(0.42, 0.40, 0.14, 0.04))[0]
        dobs = _birth_dates(rng, k, first, last)
        twins_at = rng.randrange(len(dobs)) if rng.random() < rates.twins else -1
        address = _address(rng)
        old_address = None
        if rng.random() < rates.moved:
            old_address = _address(rng)
        nationality = ""
        if rng.random() < rates.foreign:
            nats = list(NATIONALITY_WEIGHTS)
            nationality = rng.choices(nats, weights=list(NATIONALITY_WEIGHTS.values()))[0]
        fsurname = foreign_name(rng, nationality, "surname") if nationality else None
        alias_surname = None
        if nationality and rng.random() < {"KR": 0.7, "CN": 0.4}.get(nationality, 0.15):
            alias_surname = pools["surname"].draw(rng)
        surname = pools["surname"].draw(rng)
        former = None
        if not nationality and rng.random() < rates.adopted:
            former = _registered_form(rng, surname)
            surname = pools["surname"].draw(rng)
        surname = _registered_form(rng, surname)
        used: set[str] = set()
        slots: list[tuple[date, bool]] = [(d, False) for d in dobs]
        if twins_at >= 0:
            slots.insert(twins_at + 1, (dobs[twins_at], True))
            slots[twins_at] = (dobs[twins_at], True)
        prev_sex = ""
        for dob, is_twin in slots:
            if len(persons) >= n_children:
                break
            sex = rng.choice("MF")
            if is_twin and prev_sex and rng.random() < 0.5:
                sex = "F" if prev_sex == "M" else "M"
            prev_sex = sex if is_twin else ""
            pid = f"P{len(persons) + 1:07d}"
            if nationality:
                assert fsurname is not None
                fgiven = foreign_name(rng, nationality, "male" if sex == "M" else "female")
                for _ in range(10):
                    if fgiven.roman not in used:
                        break
                    fgiven = foreign_name(rng, nationality, "male" if sex == "M" else "female")
                used.add(fgiven.roman)
                s_entry = NameEntry(fsurname.kanji or fsurname.kana, fsurname.kana)
                g_entry = NameEntry(
                    fgiven.kanji or fgiven.kana.replace(" ", ""), fgiven.kana.replace(" ", "")
                )
                alias = None
                if alias_surname is not None:
                    alias = (alias_surname, _given(rng, sex, used))
                persons.append(
                    Person(
                        pid,
                        household,
                        sex,
                        dob,
                        s_entry,
                        g_entry,
                        address,
                        old_address=old_address,
                        nationality=nationality,
                        foreign_surname=fsurname,
                        foreign_given=fgiven,
                        alias=alias,
                        twin=is_twin,
                    )
                )
            else:
                given = _given(rng, sex, used)
                used.add(given.kanji)
                persons.append(
                    Person(
                        pid,
                        household,
                        sex,
                        dob,
                        surname,
                        given,
                        address,
                        former_surname=former,
                        old_address=old_address,
                        twin=is_twin,
                    )
                )
    return persons
