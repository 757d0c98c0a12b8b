"""The five holding bodies: who they cover and how each writes its records."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from synthetic.errors import (
    JUMIN_FACTOR,
    ErrorRates,
    full_width_digits,
    kana_spelling_variant,
    replace_one_char,
    simplify_kanji,
    to_halfwidth_kana,
    to_hiragana,
    typo_date,
    variant_kanji,
)
from synthetic.formats import DATE_STYLES, format_address, format_date, format_sex
from synthetic.names import NameEntry
from synthetic.population import Person

_KANA_ALPHABET = (
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
)
_KANJI_ALPHABET = "一二三大小太子美優翔陽奈菜真愛結花香也人介助"


@dataclass(frozen=True)
class BodySpec:
    """How one body exports its records.

    ``columns`` are the export's headers in order; ``id_header`` is the record-id column;
    ``accuracy`` multiplies every random error rate (the resident register is kept best).
    """

    key: str
    label: str
    filename: str
    encoding: str  # utf-8, utf-8-sig or cp932
    columns: tuple[str, ...]
    id_header: str
    id_prefix: str
    date_style: str
    address_style: str
    sex_style: str
    kana_hiragana: bool
    accuracy: float
    stale: bool  # whether this body can hold a pre-move / pre-adoption state
    extra: tuple[str, str] | None  # (header, value) of a column that is not an identifier
    covers: Callable[[Person, random.Random, bool], bool]


def _covers_all(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
    return True


def _covers_school(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
    return 6 <= p.age() <= 15 and rng.random() < 0.97


def _covers_nursery(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
    return p.age() <= 5 and rng.random() < (0.55 if p.age() <= 2 else 0.9)


def _covers_welfare(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
    return household_in_welfare


def _covers_mch(p: Person, rng: random.Random, household_in_welfare: bool) -> bool:
    age = p.age()
    return (age <= 3 and rng.random() < 0.98) or (4 <= age <= 6 and rng.random() < 0.25)


_FULL = ("氏名", "氏名_フリガナ")
_STD = ("生年月日", "性別", "住所", "旧氏", "通称", "氏名_外国人ローマ字")
BODIES: tuple[BodySpec, ...] = (
    BodySpec("jumin", "住民記録", "jumin.csv", "utf-8",
             ("宛名番号", *_FULL, *_STD),
             "宛名番号", "", "compact", "jumin", "kanji", False, JUMIN_FACTOR, False,
             None, _covers_all),
    BodySpec("gakko", "学校", "gakko.csv", "utf-8-sig",
             ("管理番号", "氏", "名", "氏_フリガナ", "名_フリガナ", "生年月日", "性別", "住所",
              "通称", "学校名"),
             "管理番号", "S", "slash", "hyphen_nocity", "code", False, 1.0, True,
             ("学校名", "架橋市立第一小学校"), _covers_school),
    BodySpec("hoiku", "保育", "hoiku.csv", "utf-8",
             ("宛名番号", "氏", "名", "氏名_フリガナ", "生年月日", "性別", "住所",
              "氏名_外国人ローマ字", "園名"),
             "宛名番号", "H", "wareki_dot", "ban_go", "kanji", True, 1.0, True,
             ("園名", "架橋市立さくら保育園"), _covers_nursery),
    BodySpec("fukushi", "福祉", "fukushi.csv", "cp932",
             ("宛名番号", *_FULL, *_STD),
             "宛名番号", "F", "era_code7", "hyphen", "code", False, 1.0, True,
             None, _covers_welfare),
    BodySpec("boshi", "母子保健", "boshi.csv", "cp932",
             ("宛名番号", *_FULL, "生年月日", "性別", "住所", "旧氏"),
             "宛名番号", "B", "iso", "ban_go", "kanji_sei", False, 1.0, True,
             None, _covers_mch),
)  # fmt: skip
"""The bodies in export order. The school's extra column varies per record in reality;
one fixed value is enough to check that readers ignore columns they do not map."""


def _kana_script(rng: random.Random, spec: BodySpec, r: ErrorRates, f: float) -> str:
    """Script of the whole record's reading: 'hiragana', 'katakana' or 'halfwidth'."""
    if spec.kana_hiragana != (rng.random() < r.kana_script * f):
        return "hiragana"
    return "halfwidth" if rng.random() < r.kana_halfwidth * f else "katakana"


def _render_kana(rng: random.Random, kana: str, script: str, r: ErrorRates, f: float) -> str:
    if not kana:
        return kana
    if rng.random() < r.kana_spelling * f:
        kana = kana_spelling_variant(rng, kana)
    if rng.random() < r.name_typo * f / 2:
        kana = replace_one_char(rng, kana, _KANA_ALPHABET)
    if script == "hiragana":
        return to_hiragana(kana)
    return to_halfwidth_kana(kana) if script == "halfwidth" else kana


def _render_kanji(rng: random.Random, text: str, r: ErrorRates, f: float, given: bool) -> str:
    if rng.random() < r.kanji_simplified * (1.0 if f == 1.0 else 0.0):
        text = simplify_kanji(text)
    if rng.random() < r.kanji_variant * f:
        text = variant_kanji(rng, text)
    if given and rng.random() < r.name_typo * f:
        text = replace_one_char(rng, text, _KANJI_ALPHABET)
    if rng.random() < r.placeholder * f:
        text = replace_one_char(rng, text, "〓")
    return text


def render_record(
    p: Person, spec: BodySpec, rng: random.Random, rates: ErrorRates, record_id: str
) -> list[str]:
    """One export row for person ``p`` as body ``spec`` records it (column order)."""
    f = spec.accuracy
    stale_surname = (
        spec.stale and p.former_surname is not None and rng.random() < rates.stale_surname
    )
    stale_address = spec.stale and p.old_address is not None and rng.random() < rates.stale_address
    surname: NameEntry = p.former_surname if stale_surname and p.former_surname else p.surname
    given: NameEntry = p.given
    roman = p.roman_name
    use_alias = p.alias is not None and spec.key != "jumin" and rng.random() < 0.6
    if use_alias and p.alias is not None:
        surname, given = p.alias
    s_kanji = _render_kanji(rng, surname.kanji, rates, f, False)
    g_kanji = _render_kanji(rng, given.kanji, rates, f, True)
    if spec.key == "jumin" and roman and not (p.foreign_surname and p.foreign_surname.kanji):
        s_kanji, g_kanji = roman.split(" ", 1)
    script = _kana_script(rng, spec, rates, f)
    s_kana = _render_kana(rng, surname.kana, script, rates, f)
    g_kana = _render_kana(rng, given.kana, script, rates, f)
    sep = "　"
    if rng.random() < rates.width * f:
        sep = rng.choice((" ", " ", ""))
    if rng.random() < rates.missing * f:
        s_kana = g_kana = ""
    dob = p.dob
    if rng.random() < rates.date_typo * f:
        dob = typo_date(rng, dob)
    style = spec.date_style
    if rng.random() < rates.date_format * f:
        style = rng.choice(DATE_STYLES)
    dob_text = format_date(dob, style)
    if rng.random() < rates.width * f / 2:
        dob_text = full_width_digits(dob_text)
    if rng.random() < rates.missing * f / 10:
        dob_text = ""
    sex = "" if rng.random() < rates.missing * f else format_sex(p.sex, spec.sex_style)
    address = p.old_address if stale_address and p.old_address else p.address
    addr = format_address(address, spec.address_style)
    if "ヶ" in addr and rng.random() < 2 * rates.width * f:
        addr = addr.replace("ヶ", rng.choice(("ケ", "が", "ヵ")))
    if rng.random() < rates.width * f:
        addr = full_width_digits(addr)
    if rng.random() < rates.missing * f:
        addr = ""
    former = ""
    if (
        p.former_surname is not None
        and not stale_surname
        and (spec.key == "jumin" or rng.random() < rates.former_recorded)
    ):
        former = p.former_surname.kanji
    alias = f"{p.alias[0].kanji}　{p.alias[1].kanji}" if p.alias is not None else ""
    if roman and spec.key != "jumin":
        if rng.random() < 0.3:
            given_part, surname_part = roman.split(" ", 1)[1], roman.split(" ", 1)[0]
            roman = f"{given_part} {surname_part}"
        if rng.random() < 0.1:
            roman = ""
    kana_sep = " " if sep == " " or script == "halfwidth" else "　"
    values = {
        spec.id_header: record_id,
        "氏名": f"{s_kanji}{sep}{g_kanji}",
        "氏": s_kanji,
        "名": g_kanji,
        "氏名_フリガナ": f"{s_kana}{kana_sep}{g_kana}" if s_kana else "",
        "氏_フリガナ": s_kana,
        "名_フリガナ": g_kana,
        "生年月日": dob_text,
        "性別": sex,
        "住所": addr,
        "旧氏": former,
        "通称": alias,
        "氏名_外国人ローマ字": roman,
    }
    if spec.extra is not None:
        values[spec.extra[0]] = spec.extra[1]
    return [values[c] for c in spec.columns]
