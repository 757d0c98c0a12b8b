"""Text rule: the first step of every normaliser.

Order: strip variation selectors (and IVS), NFKC, fold CP932 look-alike pairs (and drop
combining voiced marks NFKC left uncomposed), detect
placeholders for unrepresentable characters, collapse whitespace (U+3000 included).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# Characters municipal systems put in place of a character they cannot represent (外字).
# ？ becomes '?' under NFKC; both forms are listed.
PLACEHOLDERS = frozenset("〓●■？?﹖")
_PLACEHOLDER = re.compile("[" + "".join(sorted(PLACEHOLDERS)) + "]")

_VARIATION_SELECTORS = {cp: None for cp in range(0xFE00, 0xFE10)}
_VARIATION_SELECTORS.update({cp: None for cp in range(0xE0100, 0xE01F0)})

# CP932/JIS round-trip pairs that differ in Unicode but mean the same thing (applied after NFKC).
_CP932_FOLD = str.maketrans(
    {
        "\u301c": "~",  # 〜 WAVE DASH (JIS mapping)
        "\uff5e": "~",  # ～ FULLWIDTH TILDE (CP932 mapping); NFKC gives '~' already
        "\u223c": "~",  # ∼ TILDE OPERATOR
        "\u2212": "-",  # − MINUS SIGN (JIS mapping)
        "\uff0d": "-",  # － FULLWIDTH HYPHEN-MINUS (CP932 mapping)
        "\u2010": "-",  # ‐ HYPHEN
        "\u2011": "-",  # ‑ NON-BREAKING HYPHEN
        "\u2013": "-",  # – EN DASH
        "\u2014": "\u2015",  # — EM DASH (Unicode) vs ― HORIZONTAL BAR (CP932)
        "\u2016": "\u2225",  # ‖ DOUBLE VERTICAL LINE vs ∥ PARALLEL TO (CP932)
        "\u00a6": "|",  # ¦
        # Combining (semi-)voiced marks NFKC could not compose onto a kana are orphans.
        "\u3099": None,
        "\u309a": None,
    }
)

_HAS_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_HAS_CP932_FOLD = re.compile("[" + "".join(sorted(chr(cp) for cp in _CP932_FOLD)) + "]")
_WHITESPACE = re.compile(r"\s+")

# Joins a column's values into one string for :func:`clean_column`. NUL is a starter that
# composes with nothing, is not whitespace and is no placeholder, so every step of the text
# rule treats the joined string exactly as it treats each value on its own.
COLUMN_SEPARATOR = "\x00"
_SPACE_AT_SEPARATOR = re.compile(" ?\x00 ?")


def strip_variation_selectors(value: str) -> str:
    """Remove variation selectors U+FE00–FE0F and ideographic variation selectors (IVS)."""
    if _HAS_VARIATION_SELECTOR.search(value) is None:  # the common case, a C-speed scan
        return value
    return value.translate(_VARIATION_SELECTORS)


def nfkc(value: str) -> str:
    """Unicode NFKC (full-width ASCII → ASCII, half-width kana → full-width, U+3000 → space)."""
    return unicodedata.normalize("NFKC", value)


def fold_cp932(value: str) -> str:
    """Fold the CP932/JIS look-alike pairs (〜/～ → '~', −/－ → '-', —/― → '―', …)."""
    if _HAS_CP932_FOLD.search(value) is None:
        return value
    return value.translate(_CP932_FOLD)


def collapse_whitespace(value: str) -> str:
    """Collapse runs of whitespace to one ASCII space and strip both ends."""
    return _WHITESPACE.sub(" ", value).strip()


def has_placeholder(value: str) -> bool:
    """True when ``value`` contains a placeholder for an unrepresentable character.

    Works on raw and NFKC-normalised text alike (the NFKC forms are in the set).
    """
    return _PLACEHOLDER.search(value) is not None


@lru_cache(maxsize=65536)
def clean_text(value: str) -> tuple[str, bool]:
    """Apply the text rule; return ``(text, unknown)``.

    ``unknown`` is True when the value contained a placeholder (〓 ● ■ ？); the text is
    then ``""`` and the caller reports it.
    """
    text = fold_cp932(nfkc(strip_variation_selectors(value)))
    if has_placeholder(text):
        return "", True
    return collapse_whitespace(text), False


def _nfkc_joined(joined: str) -> str:
    """NFKC of a joined column, value by value where a value needs it.

    ``unicodedata.normalize`` returns at once when its quick check finds a string already
    normalised, and otherwise normalises the whole string: one half-width name would make
    the whole column take the slow path. The ideographic space (in nearly every name) is
    replaced first by its compatibility decomposition, ' ', which does not change the
    result and lets most columns pass the quick check.
    """
    joined = joined.replace("\u3000", " ")
    if unicodedata.is_normalized("NFKC", joined):
        return joined
    return COLUMN_SEPARATOR.join([nfkc(value) for value in joined.split(COLUMN_SEPARATOR)])


def clean_column(values: Sequence[str]) -> tuple[list[str], set[int]]:
    """:func:`clean_text` over a whole column: ``(texts, positions of unknown values)``.

    ``texts[i], i in unknown == clean_text(values[i])`` for every ``i`` (a property test
    checks it). The rule runs once on the values joined by :data:`COLUMN_SEPARATOR`, so a
    column of unique names costs a few C-speed passes instead of a Python call per value.
    Values that themselves contain the separator make it fall back to value by value.
    """
    if not values:
        return [], set()
    joined = COLUMN_SEPARATOR.join(values)
    if joined.count(COLUMN_SEPARATOR) != len(values) - 1:
        results = [clean_text(value) for value in values]
        return [text for text, _ in results], {i for i, (_, u) in enumerate(results) if u}
    text = fold_cp932(_nfkc_joined(strip_variation_selectors(joined)))
    unknown: set[int] = set()
    if has_placeholder(text):
        parts = text.split(COLUMN_SEPARATOR)
        unknown = {i for i, part in enumerate(parts) if has_placeholder(part)}
    texts = _SPACE_AT_SEPARATOR.sub(COLUMN_SEPARATOR, _WHITESPACE.sub(" ", text)).strip()
    cleaned = texts.split(COLUMN_SEPARATOR)
    for i in unknown:
        cleaned[i] = ""
    return cleaned, unknown


def remove_spaces(text: str) -> str:
    """Remove the spaces of a cleaned text, re-composing what becomes adjacent (NFKC).

    Without the re-composition 'K ̧' would give 'K' + U+0327 and change again on a
    second pass (normalisers must be idempotent).
    """
    if " " not in text:
        return text
    return nfkc(text.replace(" ", ""))


def normalise_text(value: str) -> str:
    """The text rule, placeholders mapped to ``""``."""
    return clean_text(value)[0]
