"""Kanji numerals → Arabic digits (shared by the date and address rules)."""

from __future__ import annotations

_DIGITS = {ch: i for i, ch in enumerate("〇一二三四五六七八九")} | {"零": 0}
_UNITS = {"十": 10, "百": 100, "千": 1000}

KANJI_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS)


def kanji_to_int(numeral: str) -> int:
    """'三' → 3, '十二' → 12, '二十三' → 23, '百五' → 105, '一〇一' → 101 (positional).

    Raises ValueError for an empty string or a character that is not a kanji numeral.
    """
    if not numeral:
        raise ValueError("empty numeral")
    if not any(ch in _UNITS for ch in numeral):
        return int("".join(str(_DIGITS[ch]) for ch in numeral))
    total = 0
    current = 0
    for ch in numeral:
        if ch in _DIGITS:
            current = current * 10 + _DIGITS[ch]
        elif ch in _UNITS:
            total += (current or 1) * _UNITS[ch]
            current = 0
        else:
            raise ValueError("not a kanji numeral")
    return total + current
