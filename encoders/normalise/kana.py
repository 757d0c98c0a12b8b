"""Kana rule: strict and loose katakana keys for readings (フリガナ).

The strict key: text rule (NFKC turns half-width kana into full-width), hiragana →
katakana, separators dropped, ヴ → バ行, small → large kana, ヂヅヲ → ジズオ (ヰヱ → イエ),
ー → the preceding vowel. The loose key also collapses long vowels (オウ/オオ → オ, ウウ → ウ,
エイ → エ, any vowel repeated) and, optionally, removes dakuten/handakuten (清音化).
Kana are never derived from kanji: non-kana characters are kept as they are.
"""

from __future__ import annotations

import re
from functools import lru_cache

from encoders.normalise.text import clean_text, nfkc

_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_HIRA_TO_KATA.update({0x309D: 0x30FD, 0x309E: 0x30FE})  # ゝゞ → ヽヾ

# Separators dropped from readings (spaces, middle dots, punctuation, the equals sign).
_SEPARATORS = {ord(ch): None for ch in " ・·.,、。=゠'\"()"}

_SMALL_TO_LARGE = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)
_OBSOLETE = str.maketrans({"ヂ": "ジ", "ヅ": "ズ", "ヲ": "オ", "ヰ": "イ", "ヱ": "エ"})
_VU = re.compile("ヴ([ァィェォャュョ]?)")
_VU_MAP = {
    "ァ": "バ", "ィ": "ビ", "ェ": "ベ", "ォ": "ボ",
    "ャ": "ビャ", "ュ": "ビュ", "ョ": "ビョ", "": "ブ",
}  # fmt: skip
_VU_ROW = str.maketrans({"ヷ": "バ", "ヸ": "ビ", "ヹ": "ベ", "ヺ": "ボ"})
# Dashes and tildes typed for the long-vowel mark after a kana.
_LONG_MARK_LOOKALIKE = re.compile(r"(?<=[\u30a1-\u30fa\u30fc])[-~―─━ｰ]+")

_VOWEL_ROWS = {
    "ア": "アカガサザタダナハバパマヤラワ",
    "イ": "イキギシジチヂニヒビピミリ",
    "ウ": "ウクグスズツヅヌフブプムユルヴ",
    "エ": "エケゲセゼテデネヘベペメレ",
    "オ": "オコゴソゾトドノホボポモヨロヲ",
}
_VOWEL_OF = {ch: vowel for vowel, row in _VOWEL_ROWS.items() for ch in row}

# Second kana that lengthens a vowel besides the vowel itself: オウ, エイ.
_LENGTHENERS = {"オ": "ウ", "エ": "イ"}

_SEION = str.maketrans(
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポ",
    "カキクケコサシスセソタチツテトハヒフヘホハヒフヘホ",
)
# Iteration marks: ヽ repeats the previous kana, ヾ repeats it voiced.
_VOICED = str.maketrans(
    "カキクケコサシスセソタチツテトハヒフヘホ",
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボ",
)


def to_katakana(value: str) -> str:
    """Hiragana → katakana (ぁ-ゖ, ゝゞ)."""
    return value.translate(_HIRA_TO_KATA)


def _expand_iteration_marks(value: str) -> str:
    if "ヽ" not in value and "ヾ" not in value:
        return value
    out: list[str] = []
    for ch in value:
        if ch == "ヽ" and out:
            out.append(out[-1])
        elif ch == "ヾ" and out:
            out.append(out[-1].translate(_VOICED))
        elif ch not in "ヽヾ":
            out.append(ch)
    return "".join(out)


def _long_vowels_to_vowel(value: str) -> str:
    if "ー" not in value:
        return value
    out: list[str] = []
    for ch in value:
        if ch == "ー":
            vowel = _VOWEL_OF.get(out[-1]) if out else None
            if vowel is not None:
                out.append(vowel)
        else:
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=65536)
def strict_kana(value: str) -> str:
    """Strict katakana key: 'やまだ　たろう' → 'ヤマダタロウ', 'ｷｮｳｺ' → 'キヨウコ'."""
    text, unknown = clean_text(value)
    if unknown or not text:
        return ""
    text = to_katakana(text)
    stripped = text.translate(_SEPARATORS)
    # Re-compose what dropping separators made adjacent (keeps the key idempotent).
    text = nfkc(stripped) if len(stripped) != len(text) else stripped
    text = _LONG_MARK_LOOKALIKE.sub(lambda m: "ー" * len(m.group()), text)
    text = _expand_iteration_marks(text)
    text = _VU.sub(lambda m: _VU_MAP[m.group(1)], text.translate(_VU_ROW))
    text = text.translate(_SMALL_TO_LARGE).translate(_OBSOLETE)
    return _long_vowels_to_vowel(text)


def collapse_long_vowels(value: str) -> str:
    """Drop a vowel kana that lengthens the previous kana (オウ/オオ → オ, エイ → エ, アア → ア).

    Expects a strict key (no ー, no small kana).
    """
    out: list[str] = []
    prev_vowel: str | None = None
    for ch in value:
        if prev_vowel is not None and (ch == prev_vowel or _LENGTHENERS.get(prev_vowel) == ch):
            continue
        out.append(ch)
        prev_vowel = _VOWEL_OF.get(ch)
    return "".join(out)


@lru_cache(maxsize=65536)
def loose_kana(value: str, *, seion: bool = False) -> str:
    """Loose key: strict key, long vowels collapsed; dakuten removed when ``seion``.

    'オオノ' and 'オノ' both give 'オノ'; 'サイトウ' gives 'サイト'.
    """
    text = strict_kana(value)
    if seion:
        text = text.translate(_SEION)
    return collapse_long_vowels(text)
