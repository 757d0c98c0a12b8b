"""Kanji variant folding with the generated table ``encoders/data/kanji_fold.tsv``.

The table is derived from the MJ 縮退マップ (see ``docs/normalisation.md``); no
``jntajis`` import happens at runtime.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources


@cache
def fold_table() -> dict[int, str]:
    """The fold table as a ``str.translate`` mapping (source code point → target)."""
    text = resources.files("encoders").joinpath("data", "kanji_fold.tsv").read_text("utf-8")
    table: dict[int, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        src, dst = line.split("\t")
        table[ord(src)] = dst
    return table


@lru_cache(maxsize=65536)
def fold_kanji(value: str) -> str:
    """Replace each kanji variant by its fold target (髙→高, 﨑→崎, 邊→辺, 齋→斎, …)."""
    return value.translate(fold_table())
