"""Synthetic CLKs for the engine tests (no real people: names are drawn from short lists)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

_SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
_SURNAME_KANA = ["サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト",
                 "ナカムラ", "コバヤシ", "カトウ"]  # fmt: skip
_GIVEN = ["陽翔", "蓮", "湊", "結菜", "陽葵", "凛", "芽依", "蒼", "樹", "紬", "葵", "悠真"]
_GIVEN_KANA = ["ハルト", "レン", "ミナト", "ユイナ", "ヒマリ", "リン", "メイ", "アオイ",
               "イツキ", "ツムギ", "アオイ", "ユウマ"]  # fmt: skip
_KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモ"


def _person(rng: random.Random) -> list[str]:
    s = rng.randrange(len(_SURNAMES))
    g = rng.randrange(len(_GIVEN))
    dob = f"20{rng.randint(10, 23):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    address = f"大阪府吹田市{rng.choice('東西南北')}町{rng.randint(1, 9)}-{rng.randint(1, 30)}"
    sk, gk = _SURNAME_KANA[s], _GIVEN_KANA[g]
    return [_SURNAMES[s], _GIVEN[g], sk, gk, sk, gk, dob, rng.choice("12"), address, ""]


def _typo(rng: random.Random, row: list[str]) -> list[str]:
    row = list(row)
    field = rng.choice([2, 3, 8])
    value = row[field]
    if value:
        i = rng.randrange(len(value))
        row[field] = value[:i] + rng.choice(_KANA) + value[i + 1 :]
    if field in (2, 3):
        row[field + 2] = row[field]
    return row


@pytest.fixture(scope="session")
def realistic_clks() -> Callable[[int, int], list[np.ndarray]]:
    """``make(n, bodies)``: ``bodies`` arrays ``(m_d, 128)`` uint8 of clkhash CLKs.

    Each body holds a random ~80 % of ``n`` synthetic people, a third of them with one
    typo, in shuffled order.
    """
    from clkhash import clk
    from clkhash import schema as clk_schema

    from linkage.schema import builtin_schema

    schema = clk_schema.from_json_dict(builtin_schema("children-v1").clkhash_document())

    def make(n: int, bodies: int, seed: int = 0) -> list[np.ndarray]:
        rng = random.Random(seed)
        people = [_person(rng) for _ in range(n)]
        out = []
        for _ in range(bodies):
            rows = [
                _typo(rng, p) if rng.random() < 0.33 else p for p in people if rng.random() < 0.8
            ]
            rng.shuffle(rows)
            clks = clk.generate_clks(rows, schema, "test-secret", max_workers=1)
            out.append(
                np.frombuffer(b"".join(c.tobytes() for c in clks), np.uint8).reshape(-1, 128)
            )
        return out

    return make


def noisy_bodies(
    n: int, bodies: int, *, seed: int = 0, flip: float = 0.05, keep: float = 0.8
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random CLKs: ``bodies`` noisy copies of ``n`` base CLKs, each keeping ~``keep`` of them.

    Base CLKs have a bit density drawn from U(0.15, 0.5); each copy flips every bit with
    probability up to ``flip``. Returns (``(m_d, 128)`` uint8 arrays, ``(m_d,)`` base ids).
    """
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.15, 0.5, n)
    base = rng.random((n, 1024)) < density[:, None]
    arrays, ids = [], []
    for _ in range(bodies):
        chosen = np.flatnonzero(rng.random(n) < keep)
        rng.shuffle(chosen)
        noise = rng.random((chosen.size, 1024)) < rng.uniform(0, flip, chosen.size)[:, None]
        arrays.append(np.packbits(base[chosen] ^ noise, axis=1))
        ids.append(chosen)
    return arrays, ids


@pytest.fixture(scope="session")
def noisy() -> Callable[..., tuple[list[np.ndarray], list[np.ndarray]]]:
    """The ``noisy_bodies`` factory."""
    return noisy_bodies
