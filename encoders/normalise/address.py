"""Address rule: a comparable address key, with the building part (方書) split off.

Steps: text rule and kanji fold; postal code dropped; dashes between digits folded to
'-'; kanji numerals converted only before 丁目/番地/番/号 (三丁目 → 3丁目, 三鷹 stays,
一番町 stays); ヶ/ケ/が/ヵ/ガ between kanji folded to ヶ; the first lot number (番地) found,
the text after it returned as the building part; 丁目/番地/番/号/の in the lot unified to
'-' (1丁目2番3号 and 1-2-3 give the same key); spaces removed from the key.

:func:`normalise_address` (the schema field) then drops a leading prefecture and
municipality (東京都千代田区…, 架橋市…, 大阪府大阪市北区…, …郡…町), repeatedly, while more
address follows: bodies of one municipality often leave the city out (桜台2-12-3), and
the prefix would only make the same address look different. A 町名 that merely ends in
町/村 (本町, 日の出町) is never taken for a municipality; only 市, 区 and 郡+町/村 are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from encoders.normalise.kanji import fold_table
from encoders.normalise.numerals import KANJI_NUMERAL_CHARS, kanji_to_int
from encoders.normalise.text import COLUMN_SEPARATOR, clean_column, clean_text, remove_spaces

_DASHES = "-‐‑‒–—―−ー─━﹣"
_DASH_BETWEEN_DIGITS = re.compile(rf"(?<=\d)\s*[{_DASHES}]\s*(?=\d)")
_UNIT = r"(?:丁目|番地|番(?![町丁])|号)"
_KANJI_NUM_BEFORE_UNIT = re.compile(rf"[{KANJI_NUMERAL_CHARS}]+(?={_UNIT})")
_GA = re.compile(r"(?<=[\u3400-\u9fff々])[ヶケがヵガ](?=[\u3400-\u9fff])")
_POSTAL_CODE = r"(?:〒?\s*\d{3}-?\d{4}\s+|〒\s*\d{3}-?\d{4}\s*)"
_POSTAL = re.compile(rf"^{_POSTAL_CODE}")
# The same at the start of every value of a column joined by COLUMN_SEPARATOR.
_POSTAL_IN_COLUMN = re.compile(rf"(?:^|(?<={COLUMN_SEPARATOR})){_POSTAL_CODE}")
_LOT_SEP = r"(?:丁目|番地[のノ]?|番(?![町丁])|[-のノ])"
_LOT = re.compile(rf"\d+(?:{_LOT_SEP}\d+)*(?:丁目|番地|番(?![町丁])|号)?(?![\d条線区町村丁通地割])")
_LOT_UNITS = re.compile(r"丁目|番地[のノ]?|番|[のノ]")
_MULTI_DASH = re.compile(r"-{2,}")
_BUILDING_LEAD = re.compile(r"^[\s,、-]+")
_K = r"[\u3400-\u9fff々ヶ]"
_PREFECTURE = rf"(?:東京都|北海道|京都府|大阪府|{_K}{{2,3}}?県)"
_MUNICIPALITY = (
    rf"(?:{_K}{{1,5}}?郡{_K}{{1,5}}?[町村]|{_K}{{1,5}}?市(?:{_K}{{1,4}}?区)?|{_K}{{1,4}}?区)"
)
_LEADING_AREA = re.compile(rf"^(?:{_PREFECTURE}{_MUNICIPALITY}?|{_MUNICIPALITY})(?=.)")


class Address(NamedTuple):
    """A normalised address: the comparable key and the building part (方書)."""

    key: str
    building: str


def fold_dashes(text: str) -> str:
    """Fold any dash between two digits (1ー2, 1−2, 1 - 2) to '-'."""
    return _DASH_BETWEEN_DIGITS.sub("-", text)


@lru_cache(maxsize=4096)
def _numeral_digits(numeral: str) -> str:
    return str(kanji_to_int(numeral))


def convert_kanji_numerals(text: str) -> str:
    """Convert kanji numerals to digits, only directly before 丁目/番地/番/号."""
    return _KANJI_NUM_BEFORE_UNIT.sub(lambda m: _numeral_digits(m.group()), text)


def fold_ga(text: str) -> str:
    """Fold ヶ/ケ/が/ヵ/ガ between kanji to ヶ (霞が関, 霞ケ関 → 霞ヶ関)."""
    return _GA.sub("ヶ", text)


def _unify(lots: str) -> str:
    return _MULTI_DASH.sub("-", _LOT_UNITS.sub("-", lots).replace("号", ""))


def unify_lot(lot: str) -> str:
    """'1丁目2番3号' → '1-2-3', '12番地の3' → '12-3', '3丁目' → '3'."""
    return _unify(lot).strip("-")


def _fold(text: str, postal: re.Pattern[str] = _POSTAL) -> str:
    """Kanji fold, postal code dropped, dashes, kanji numerals and ヶ folded (cleaned text)."""
    text = postal.sub("", text.translate(fold_table()))
    return fold_ga(convert_kanji_numerals(fold_dashes(text)))


@lru_cache(maxsize=65536)
def split_address(value: str) -> Address:
    """Normalise ``value`` into ``Address(key, building)``; placeholders give ('', '')."""
    text, unknown = clean_text(value)
    if unknown or not text:
        return Address("", "")
    text = _fold(text)
    lot = _LOT.search(text)
    if lot is None:
        return Address(remove_spaces(text), "")
    prefix = remove_spaces(text[: lot.start()])
    building = _BUILDING_LEAD.sub("", text[lot.end() :]).strip()
    return Address(prefix + unify_lot(lot.group()), building)


def strip_municipality(key: str) -> str:
    """Drop leading prefecture / municipality names while more address follows.

    '東京都千代田区霞ヶ関1-2-3' → '霞ヶ関1-2-3', '架橋市本町1-2' → '本町1-2'; '本町1-2',
    '九十九里町' and '○○町字山田1234' stay. Repeated to a fixpoint, so it is idempotent.
    """
    while (m := _LEADING_AREA.match(key)) is not None:
        key = key[m.end() :]
    return key


def normalise_address(value: str) -> str:
    """The comparable address key: :func:`split_address`'s key, municipality stripped."""
    return strip_municipality(split_address(value).key)


def normalise_address_column(values: Sequence[str]) -> list[str]:
    """:func:`normalise_address` over a column, most steps run once on the joined column.

    The text rule, the folds and the lot's unification run on the values joined by
    ``COLUMN_SEPARATOR``: none of their patterns can match the separator or look past it,
    so each value comes out as :func:`normalise_address` gives it alone (a property test
    checks it). Only the lot search and the municipality prefix are value by value.
    """
    texts, _ = clean_column(values)  # a value with a placeholder gives ""
    folded = _fold(COLUMN_SEPARATOR.join(texts), _POSTAL_IN_COLUMN).split(COLUMN_SEPARATOR)
    if len(folded) != len(values):  # cannot happen: no step adds or removes a separator
        return [normalise_address(value) for value in values]
    prefixes: list[str] = []
    lots: list[str] = []
    for text in folded:
        lot = _LOT.search(text)
        if lot is None:
            prefixes.append(remove_spaces(text))
            lots.append("")
        else:
            prefixes.append(remove_spaces(text[: lot.start()]))
            lots.append(lot.group())
    unified = _unify(COLUMN_SEPARATOR.join(lots)).split(COLUMN_SEPARATOR)
    return [
        strip_municipality(prefix + lot.strip("-"))
        for prefix, lot in zip(prefixes, unified, strict=True)
    ]
