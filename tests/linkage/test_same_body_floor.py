"""A deduplicating body next to bodies that hold one record per child: two of its records
are one child only where they score like one (``threshold.same_body_floor``), because
siblings — one surname, one address, one set of parents — score above a municipal
threshold too, and where their other records sit in bodies the other sibling is not in,
nothing else keeps their groups apart. Measured on generated towns through the engine in
``tests/benchmarks/test_dedup_municipal.py``."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.clustering import cluster
from linkage.errors import LinkageError
from linkage.packed import pack

WIDTH = 1024


def _pairs(edges: list[tuple[int, int, float]]):
    left, right, scores = zip(*edges, strict=True)
    return np.array(left, np.int64), np.array(right, np.int64), np.array(scores, float)


def test_a_pair_of_one_dedup_body_below_the_floor_is_not_merged_nor_flagged() -> None:
    # 0 and 1: body 0 (deduplicating); 2: body 1. 0–2 is the child; 1 is a sibling who
    # scores 0.9 with 2 and 0.7 with 0.
    body = np.array([0, 0, 1])
    dedup = np.array([True, False])
    edges = _pairs([(0, 2, 0.95), (1, 2, 0.9), (0, 1, 0.7)])
    before = cluster(3, *edges, body, dedup=dedup, threshold=0.6)
    assert before.n_groups == 1  # supported: every pair across is above the threshold
    c = cluster(3, *edges, body, dedup=dedup, threshold=0.6, same_floor=0.8)
    assert c.group_of[0] == c.group_of[2] != c.group_of[1]
    assert not c.review.any() and c.refused_same == 2 and c.refused == 0  # 1–2 and 0–1
    # A repeat scores like one child: merged.
    edges = _pairs([(0, 2, 0.95), (1, 2, 0.9), (0, 1, 0.85)])
    c = cluster(3, *edges, body, dedup=dedup, threshold=0.6, same_floor=0.8)
    assert c.n_groups == 1 and c.refused_same == 0
    # Not listed is not like one child (without the CLKs the listed pairs decide).
    edges = _pairs([(0, 2, 0.95), (1, 2, 0.9)])
    c = cluster(3, *edges, body, dedup=dedup, threshold=0.6, same_floor=0.8)
    assert c.n_groups == 2 and c.refused_same == 1


def test_with_clks_the_best_pair_of_the_repeated_body_is_scored_exactly() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(WIDTH) < 0.5).astype(np.uint8)
    near = base.copy()
    near[rng.choice(WIDTH, 40, replace=False)] ^= 1  # about 0.96 with base
    far = base.copy()
    far[rng.choice(WIDTH, 300, replace=False)] ^= 1  # about 0.7 with base
    body = np.array([0, 0, 1])
    dedup = np.array([True, False])
    # The listed pairs claim 0–1 at 0.99; the CLKs say otherwise.
    edges = _pairs([(0, 2, 0.95), (1, 2, 0.9), (0, 1, 0.99)])
    for second, merged in ((far, False), (near, True)):
        clks = pack(np.packbits(np.array([base, second, base]), axis=1))
        c = cluster(3, *edges, body, dedup=dedup, threshold=0.6, same_floor=0.85, clks=clks)
        assert (c.n_groups == 1) is merged


def test_each_deduplicating_body_is_held_to_its_own_floor() -> None:
    # Bodies 0 and 2 deduplicate; body 1 does not. 0–1 (body 0) and 3–4 (body 2) score
    # 0.8 with each other; each pair reaches one record of body 1 (record 2).
    body = np.array([0, 0, 1, 2, 2])
    dedup = np.array([True, False, True])
    edges = _pairs([(0, 2, 0.95), (1, 2, 0.93), (0, 1, 0.8), (3, 2, 0.94), (4, 2, 0.92),
                    (3, 4, 0.8)])  # fmt: skip
    floors = np.array([0.75, 2.0, 0.85])  # body 0 holds many repeats, body 2 few
    c = cluster(5, *edges, body, dedup=dedup, threshold=0.6, same_floor=floors)
    g = c.group_of
    assert g[0] == g[1] == g[2]  # 0.8 reaches body 0's floor
    assert g[3] != g[4]  # but not body 2's
    with pytest.raises(LinkageError, match="same_floor"):
        cluster(5, *edges, body, dedup=dedup, threshold=0.6, same_floor=np.array([0.8, 0.8]))
    with pytest.raises(LinkageError, match="same_floor"):
        cluster(5, *edges, body, dedup=dedup, threshold=0.6, same_floor=1.5)
