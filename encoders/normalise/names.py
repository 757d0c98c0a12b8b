"""Name rule: surname and given name separately, kanji folded, roman names as sorted tokens.

Alternates (旧氏, 通称) are joined to the current value with ``ALTERNATE_SEPARATOR`` so
that the n-grams of all of them go into the same CLK field: a child whose surname changed
still shares the bigrams of the other spelling with records that hold it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from encoders.normalise.kanji import fold_kanji
from encoders.normalise.text import clean_text, remove_spaces

ALTERNATE_SEPARATOR = "|"
_ROMAN_NON_ALNUM = re.compile(r"[^A-Z0-9]+")


class SplitName(NamedTuple):
    """A full name split into (surname, given name); ``split`` False when no separator."""

    surname: str
    given: str
    split: bool


@lru_cache(maxsize=65536)
def split_full_name(value: str) -> SplitName:
    """Split on the first ASCII or full-width space: '山田　太郎' → ('山田', '太郎', True).

    Without a separator the whole name is returned as the surname and ``split`` is False
    (the caller reports a warning). The parts are text-normalised, not folded.
    """
    text, unknown = clean_text(value)
    if unknown or not text:
        return SplitName("", "", True)
    surname, sep, given = text.partition(" ")
    if not sep:
        return SplitName(text, "", False)
    return SplitName(surname, remove_spaces(given), True)


@lru_cache(maxsize=65536)
def normalise_kanji_name(value: str) -> str:
    """Text rule, spaces removed, kanji variants folded: '髙橋 ' → '高橋', '齋藤' → '斎藤'."""
    text, unknown = clean_text(value)
    if unknown:
        return ""
    return fold_kanji(remove_spaces(text))


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def normalise_roman_name(value: str) -> str:
    """Uppercase ASCII tokens, punctuation dropped, sorted: 'Nguyen, Van-An' → 'AN NGUYEN VAN'."""
    text, unknown = clean_text(value)
    if unknown:
        return ""
    tokens = _ROMAN_NON_ALNUM.split(_strip_accents(text).upper())
    return " ".join(sorted(t for t in tokens if t))


def with_alternates(current: str, alternates: Iterable[str]) -> str:
    """'佐藤', ['鈴木', '佐藤', ''] → '佐藤|鈴木': current first, then new non-empty values."""
    values: list[str] = []
    for value in (current, *alternates):
        if value and value not in values:
            values.append(value)
    return ALTERNATE_SEPARATOR.join(values)
