"""Generate ``encoders/data/kanji_fold.tsv``: the kanji variant fold table.

Source: the MJ 縮退マップ (IPA / CITPC, CC BY-SA 2.1 JP) as carried by the ``jntajis``
package (install the ``tools`` extra). Only two shrink schemes are used:

* JIS包摂規準・UCS統合規則 (``JIS_INCORPORATION_UCS_UNIFICATION_RULE``)
* 法務省告示・戸籍通達 (``MOJ_FAMILY_REGISTER_ACT_RELATED_NOTICE``)

The looser schemes (読み・字形による類推, 法務省告示582号) merge unrelated characters
(切→功) and are excluded. For every CJK code point the candidate with the best JIS level
(level 1 < level 2 < level 3 < level 4 < not in JIS; ties by code point) becomes the
target, but only if it is strictly better than the source character. The mapping is then
iterated to a fixpoint (a→b, b→c gives a→c) and a small hand list of JIS-to-JIS pairs the
map does not cover is added. A short exclusion list drops the 戸籍通達 corrections that
join two unrelated JIS X 0208 characters (孩→咳, 誥→詰, …).

Usage::

    .venv/bin/python scripts/gen_kanji_fold.py [--output encoders/data/kanji_fold.tsv]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path

import jntajis
from jntajis import ConversionMode, MJShrinkSchemeCombo

SCHEMES = (
    MJShrinkSchemeCombo.JIS_INCORPORATION_UCS_UNIFICATION_RULE
    | MJShrinkSchemeCombo.MOJ_FAMILY_REGISTER_ACT_RELATED_NOTICE
)

# JIS-to-JIS (or JIS X 0213) pairs the two schemes do not give; source -> target.
HAND_PAIRS: dict[str, str] = {
    "藪": "薮",
    "曾": "曽",
    "鷗": "鴎",
    "髙": "高",
    "﨑": "崎",
    "邊": "辺",
    "邉": "辺",
    "齋": "斎",
    "齊": "斉",
    "澤": "沢",
    "濱": "浜",
    "𠮷": "吉",
}

# JIS X 0208 characters the 戸籍通達 scheme folds onto a different, unrelated JIS X 0208
# character (誤字→正字 corrections, not variants); folding them would merge distinct names.
EXCLUDED_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("切", "功"),
        ("孩", "咳"),
        ("夂", "終"),
        ("勹", "包"),
        ("乢", "蓋"),
        ("屓", "負"),
        ("槁", "橋"),
        ("碚", "培"),
        ("唔", "吾"),
        ("皀", "香"),
        ("擱", "閣"),
        ("誥", "詰"),
        ("逑", "述"),
        ("臙", "咽"),
        ("抂", "狂"),
        ("閧", "巷"),
    }
)

# Code point ranges scanned: CJK Unified Ideographs (+ Ext. A..), compatibility ideographs.
_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)

HEADER = """\
# kanji_fold.tsv — kanji variant fold table for Kakehashi normalisation (source<TAB>target).
# Derived from the MJ縮退マップ (MJ shrink map) of the Information-technology Promotion
# Agency, Japan (IPA) / Character Information Technology Promotion Council (CITPC),
# licensed under CC BY-SA 2.1 JP (https://creativecommons.org/licenses/by-sa/2.1/jp/),
# as carried by the jntajis package {version}. Schemes used: JIS包摂規準・UCS統合規則 and
# 法務省告示・戸籍通達 only; best JIS level target; iterated to a fixpoint; plus a hand list
# of JIS-to-JIS pairs. This table is an adaptation and is shared under the same licence.
# Regenerate: .venv/bin/python scripts/gen_kanji_fold.py
"""


def jis_rank(char: str) -> int:
    """Rank of ``char`` by JIS level: 1, 2 (JIS X 0208), 3, 4 (JIS X 0213), 5 (none)."""
    try:
        code = jntajis.jnta_encode("jis", char, ConversionMode.JISX0208)
        return 1 if code[0] < 0x50 else 2
    except Exception:
        pass
    try:
        jntajis.jnta_encode("jis", char, ConversionMode.MEN1)
        return 3
    except Exception:
        pass
    try:
        jntajis.jnta_encode("jis", char, ConversionMode.SISO)
        return 4
    except Exception:
        return 5


def _code_points() -> Iterator[str]:
    for start, end in _RANGES:
        for cp in range(start, end + 1):
            yield chr(cp)


def best_target(char: str) -> str:
    """The best-JIS-level shrink candidate of ``char``, or ``char`` itself."""
    candidates = [
        c
        for c in jntajis.mj_shrink_candidates(char, int(SCHEMES))
        if len(c) == 1 and (char, c) not in EXCLUDED_PAIRS
    ]
    if not candidates:
        return char
    best = min(candidates, key=lambda c: (jis_rank(c), ord(c)))
    return best if jis_rank(best) < jis_rank(char) else char


def fixpoint(mapping: dict[str, str]) -> dict[str, str]:
    """Close ``mapping`` under composition (a→b, b→c ⇒ a→c); cycles are rejected."""
    closed: dict[str, str] = {}
    for src in mapping:
        seen = {src}
        dst = mapping[src]
        while dst in mapping and mapping[dst] != dst:
            if dst in seen:
                raise ValueError(f"cycle in fold map at U+{ord(dst):04X}")
            seen.add(dst)
            dst = mapping[dst]
        if dst != src:
            closed[src] = dst
    return closed


def build(chars: Iterable[str] | None = None) -> dict[str, str]:
    """Build the fold map over ``chars`` (default: all scanned CJK code points)."""
    mapping: dict[str, str] = {}
    for ch in _code_points() if chars is None else chars:
        target = best_target(ch)
        if target != ch:
            mapping[ch] = target
    for src, dst in HAND_PAIRS.items():
        mapping.setdefault(src, dst)
    return fixpoint(mapping)


def write(mapping: dict[str, str], path: Path) -> None:
    version = getattr(jntajis, "__version__", "?")
    lines = [HEADER.format(version=version)]
    lines.extend(f"{src}\t{dst}\n" for src, dst in sorted(mapping.items()))
    path.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "encoders" / "data" / "kanji_fold.tsv",
    )
    args = parser.parse_args()
    mapping = build()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write(mapping, args.output)
    print(f"wrote {len(mapping)} pairs to {args.output}")


if __name__ == "__main__":
    main()
