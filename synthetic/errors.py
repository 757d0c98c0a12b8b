"""Recording-difference rates per error level, and the primitive perturbations.

A rate is the probability that one record in a non-resident-register body shows that
difference; the resident register (住民記録) is the authoritative, well-kept source and
gets ``JUMIN_FACTOR`` times each random rate. ``clean`` has no random differences and no
life events: bodies differ only in their systematic formats (headers, date style, kana
script, address style, encoding).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from functools import lru_cache

from synthetic.population import KANJI_VARIANTS, REFERENCE_DATE


@dataclass(frozen=True)
class ErrorRates:
    """Probabilities of each recording difference (see ``docs/benchmarks.md``)."""

    kana_script: float  # reading written in the other script (hiragana <-> katakana)
    kana_halfwidth: float  # reading in half-width katakana
    kana_spelling: float  # キョウコ/キヨウコ, ユウ/ユー, ヅ/ズ
    kanji_simplified: float  # registered variant (髙) written in the common form (高)
    kanji_variant: float  # common form written as a variant where one exists
    width: float  # full-width digits in address/date, half-width or no name separator
    date_format: float  # date written in another body's style (和暦 vs Gregorian)
    date_typo: float  # day/month swapped, or one digit wrong
    name_typo: float  # one character of the given name wrong
    missing: float  # per optional field: reading, sex, address (birth date: a tenth)
    placeholder: float  # one character of a name replaced by 〓
    stale_address: float  # moved household: body still holds the old address
    stale_surname: float  # adopted child: body still holds the former surname
    former_recorded: float  # adopted child with new surname: 旧氏 filled in (if column)
    moved: float  # households that moved within the city
    adopted: float  # households whose children changed surname by adoption


ERROR_LEVELS: dict[str, ErrorRates] = {
    "clean": ErrorRates(*([0.0] * len(fields(ErrorRates)))),
    "normal": ErrorRates(
        kana_script=0.05,
        kana_halfwidth=0.04,
        kana_spelling=0.03,
        kanji_simplified=0.5,
        kanji_variant=0.03,
        width=0.10,
        date_format=0.08,
        date_typo=0.01,
        name_typo=0.005,
        missing=0.02,
        placeholder=0.004,
        stale_address=0.5,
        stale_surname=0.5,
        former_recorded=0.5,
        moved=0.05,
        adopted=0.01,
    ),
}
ERROR_LEVELS["dirty"] = replace(
    ERROR_LEVELS["normal"],
    kana_script=0.12,
    kana_halfwidth=0.10,
    kana_spelling=0.08,
    kanji_simplified=0.7,
    kanji_variant=0.08,
    width=0.25,
    date_format=0.2,
    date_typo=0.03,
    name_typo=0.02,
    missing=0.06,
    placeholder=0.015,
    stale_address=0.7,
    stale_surname=0.7,
    former_recorded=0.3,
    moved=0.10,
    adopted=0.025,
)
JUMIN_FACTOR = 0.2

_FULLWIDTH_DIGITS = str.maketrans("0123456789-", "０１２３４５６７８９－")


def full_width_digits(text: str) -> str:
    """ASCII digits and hyphens to their full-width forms."""
    return text.translate(_FULLWIDTH_DIGITS)


def to_hiragana(text: str) -> str:
    """Katakana ァ..ヶ to hiragana; other characters unchanged."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" and c != "ヵ" else c for c in text)


@lru_cache(maxsize=1)
def _halfwidth_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code in range(0xFF61, 0xFFA0):
        half = chr(code)
        table.setdefault(unicodedata.normalize("NFKC", half), half)
    for code in range(0x30A1, 0x30F7):
        full = chr(code)
        if full in table:
            continue
        base, *marks = unicodedata.normalize("NFD", full)
        if base in table and marks:
            table[full] = table[base] + ("ﾞ" if marks[0] == "\u3099" else "ﾟ")
    table["　"] = " "
    return table


def to_halfwidth_kana(text: str) -> str:
    """Full-width katakana (and the ideographic space) to half-width forms."""
    table = _halfwidth_table()
    return "".join(table.get(c, c) for c in text)


_SMALL_TO_LARGE = str.maketrans("ャュョッァィゥェォ", "ヤユヨツアイウエオ")


def kana_spelling_variant(rng: random.Random, kana: str) -> str:
    """One plausible spelling variant of a katakana reading, or ``kana`` if none applies."""
    options: list[str] = []
    if any(c in kana for c in "ャュョッ"):
        options.append(kana.translate(_SMALL_TO_LARGE))  # キョウコ -> キヨウコ
    for a, b in (("ウ", "ー"), ("ー", "ウ"), ("ヅ", "ズ"), ("ヂ", "ジ"), ("オオ", "オウ")):
        if a in kana[1:]:
            i = kana.index(a, 1)
            options.append(kana[:i] + b + kana[i + len(a) :])
    return rng.choice(options) if options else kana


_COMMON_OF = {v: c for c, vs in KANJI_VARIANTS.items() for v in vs}


def simplify_kanji(text: str) -> str:
    """Registered variants to their common forms (髙 -> 高)."""
    return "".join(_COMMON_OF.get(c, c) for c in text)


def variant_kanji(rng: random.Random, text: str) -> str:
    """Write one common character as a variant (高 -> 髙), if the name has one."""
    chars = [c for c in text if c in KANJI_VARIANTS]
    if not chars:
        return text
    c = rng.choice(chars)
    return text.replace(c, rng.choice(KANJI_VARIANTS[c]), 1)


def replace_one_char(rng: random.Random, text: str, alphabet: str) -> str:
    """Replace one character of ``text`` with a different one from ``alphabet``."""
    if not text:
        return text
    i = rng.randrange(len(text))
    new = rng.choice(alphabet)
    if new == text[i]:
        new = alphabet[(alphabet.index(new) + 1) % len(alphabet)]
    return text[:i] + new + text[i + 1 :]


def typo_date(rng: random.Random, d: date, latest: date = REFERENCE_DATE) -> date:
    """A wrong but valid date no later than ``latest``: day and month swapped, or one digit
    of YYYYMMDD changed (a future birth date would be caught at entry, so it is not made).
    """
    if d.day <= 12 and d.day != d.month and rng.random() < 0.5:
        swapped = date(d.year, d.day, d.month)
        if swapped <= latest:
            return swapped
    digits = d.strftime("%Y%m%d")
    for _ in range(20):
        i = rng.choice((2, 3, 4, 5, 6, 7))
        new = digits[:i] + str(rng.randrange(10)) + digits[i + 1 :]
        if new == digits:
            continue
        try:
            wrong = date(int(new[:4]), int(new[4:6]), int(new[6:]))
        except ValueError:
            continue
        if wrong <= latest:
            return wrong
    return d - timedelta(days=1)
