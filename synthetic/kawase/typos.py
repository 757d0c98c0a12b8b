"""Typing errors of the second generator, drawn at rates taken from published studies.

* **How often.** Kukich (1992, "Techniques for automatically correcting words in text",
  ACM Computing Surveys 24(4)) summarises error rates of keyed text between about 1 % and
  3 % of words; a name, a reading, a date or an address is one such "word" here. We use
  1 % per field per record for names and dates and 1.5 % for readings and addresses (kana
  typed letter by letter through an input method) in departments' systems, and a fifth
  of that in the resident register (the legally maintained source).
* **What kind.** Damerau (1964, "A technique for computer detection and correction of
  spelling errors", CACM 7(3)) found about 80 % of misspellings to be a single
  insertion, deletion, substitution or transposition; the other 20 % here are two such
  edits. How the single edits divide among the four kinds (substitution 40 %, deletion
  25 %, insertion 20 %, transposition 15 %) is our assumption, not a published figure.
* **Japanese input.** A kanji error is, 60 % of the time, the input method's neighbouring
  candidate with the same reading (:data:`tables.HOMOPHONES`: 佳奈 → 加奈) — an error of
  choice, not of keys, for which we know of no published rate (our assumption); a kana
  substitution takes a kana of the same consonant row or toggles voicing (カ ↔ ガ), the
  keys a romaji typist hits by mistake; a digit substitution takes a neighbouring key.
"""

from __future__ import annotations

import random

from synthetic.kawase.tables import HOMOPHONES

SINGLE_EDIT_SHARE = 0.80  # Damerau (1964)
EDIT_KINDS: tuple[tuple[str, float], ...] = (
    ("substitute", 0.40), ("delete", 0.25), ("insert", 0.20), ("transpose", 0.15),
)  # fmt: skip
IME_SHARE = 0.60

_ROWS = (
    "アイウエオ", "カキクケコ", "ガギグゲゴ", "サシスセソ", "ザジズゼゾ", "タチツテト",
    "ダヂヅデド", "ナニヌネノ", "ハヒフヘホ", "バビブベボ", "パピプペポ", "マミムメモ",
    "ヤユヨ", "ラリルレロ", "ワヲン", "ャュョ", "ッー",
)  # fmt: skip
_UNVOICED = "カキクケコサシスセソタチツテトハヒフヘホ"
_VOICED = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ"
_VOICE = dict(zip(_UNVOICED, _VOICED, strict=True))
_VOICE.update({v: k for k, v in _VOICE.items()})
_ROW_OF = {ch: row for row in _ROWS for ch in row}
_HOMOPHONE_OF = {ch: group for group in HOMOPHONES for ch in group}
_DIGIT_NEIGHBOURS = {
    "0": "9", "1": "24", "2": "13", "3": "24", "4": "35", "5": "46", "6": "57", "7": "68",
    "8": "79", "9": "80",
}  # fmt: skip


def _kind(rng: random.Random) -> str:
    r = rng.random()
    for kind, p in EDIT_KINDS:
        if r < p:
            return kind
        r -= p
    return EDIT_KINDS[-1][0]


def _similar(ch: str, rng: random.Random) -> str:
    if ch.isdigit():
        return rng.choice(_DIGIT_NEIGHBOURS.get(ch, "0123456789"))
    if ch in _VOICE and rng.random() < 0.5:
        return _VOICE[ch]
    row = _ROW_OF.get(ch)
    if row is not None and len(row) > 1:
        return rng.choice([c for c in row if c != ch])
    group = _HOMOPHONE_OF.get(ch)
    if group is not None:
        return rng.choice([c for c in group if c != ch])
    return ch


def _edit(text: str, rng: random.Random) -> str:
    if not text:
        return text
    kind = _kind(rng)
    i = rng.randrange(len(text))
    if kind == "transpose" and len(text) >= 2:
        i = min(i, len(text) - 2)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == "delete" and len(text) >= 2:
        return text[:i] + text[i + 1 :]
    if kind == "insert":
        return text[:i] + _similar(text[i], rng) + text[i:]
    return text[:i] + _similar(text[i], rng) + text[i + 1 :]


def kanji_typo(text: str, rng: random.Random) -> str:
    """A kanji name with one typing error: IME homophone (60 %) or key edits."""
    if rng.random() < IME_SHARE:
        spots = [i for i, ch in enumerate(text) if ch in _HOMOPHONE_OF]
        if spots:
            i = rng.choice(spots)
            return text[:i] + _similar(text[i], rng) + text[i + 1 :]
    return keyed_typo(text, rng)


def keyed_typo(text: str, rng: random.Random) -> str:
    """One (80 %) or two (20 %) single-character edits, Damerau's classes."""
    out = _edit(text, rng)
    if rng.random() >= SINGLE_EDIT_SHARE:
        out = _edit(out, rng)
    return out


def date_typo(yyyymmdd: str, rng: random.Random) -> str:
    """A Gregorian 'YYYYMMDD' with one keyed error in month or day that stays a valid date."""
    from datetime import date

    for _ in range(20):
        pos = rng.choice((5, 6, 7, 4))
        if rng.random() < 0.15:  # adjacent digits transposed
            chars = list(yyyymmdd)
            chars[pos], chars[pos - 1 if pos > 4 else pos + 1] = (
                chars[pos - 1 if pos > 4 else pos + 1],
                chars[pos],
            )
            cand = "".join(chars)
        else:
            cand = yyyymmdd[:pos] + _similar(yyyymmdd[pos], rng) + yyyymmdd[pos + 1 :]
        try:
            date(int(cand[:4]), int(cand[4:6]), int(cand[6:]))
        except ValueError:
            continue
        if cand != yyyymmdd:
            return cand
    return yyyymmdd
