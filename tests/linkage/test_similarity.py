from __future__ import annotations

from collections import defaultdict

import anonlink
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import LinkageError
from linkage.packed import pack
from linkage.similarity import dice_pairs, popcount_window

dice_ref = anonlink.similarities.dice_coefficient_accelerated


def _random_rows(rng: np.random.Generator, n: int, lo: float = 0.05, hi: float = 0.6):
    density = rng.uniform(lo, hi, n)
    return np.packbits(rng.random((n, 1024)) < density[:, None], axis=1)


def _assert_same_as_anonlink(a: np.ndarray, b: np.ndarray, threshold: float, workers: int):
    pa, pb = pack(a), pack(b)
    sims, (i0, i1) = dice_ref([pa.to_bitarrays(), pb.to_bitarrays()], threshold)
    ours = dice_pairs(pa, pb, threshold, workers=workers)
    assert np.array_equal(ours.left, np.asarray(i0, np.int64))
    assert np.array_equal(ours.right, np.asarray(i1, np.int64))
    assert np.max(np.abs(ours.scores - np.asarray(sims)), initial=0.0) <= 1e-9
    return ours


@pytest.mark.parametrize("threshold", [0.3, 0.7, 0.85, 1.0])
@pytest.mark.parametrize("workers", [1, 2])
def test_random_clks_give_anonlinks_candidates(threshold: float, workers: int) -> None:
    rng = np.random.default_rng(int(threshold * 100) + workers)
    base = _random_rows(rng, 1301)
    noisy = base ^ np.packbits(rng.random((len(base), 1024)) < 0.04, axis=1)
    b = np.concatenate([noisy[:900], _random_rows(rng, 203), base[:3]])  # exact copies too
    ours = _assert_same_as_anonlink(base, b, threshold, workers)
    assert len(ours.scores) > 0


def test_threshold_zero_reports_every_pair_like_anonlink() -> None:
    rows = _random_rows(np.random.default_rng(3), 7)
    rows[2] = 0  # two empty CLKs score 0, as in anonlink
    rows[5] = 0
    ours = _assert_same_as_anonlink(rows, rows[:5], 0.0, 1)
    assert len(ours.scores) == 35


def test_realistic_clkhash_clks_give_anonlinks_candidates(realistic_clks) -> None:
    a, b = realistic_clks(400, 2, seed=1)
    for threshold in (0.7, 0.8, 0.9):
        ours = _assert_same_as_anonlink(a, b, threshold, 2)
        assert len(ours.scores) > 200


@pytest.mark.parametrize("k", [1, 3])
def test_top_k_keeps_anonlinks_best_scores_per_row(k: int) -> None:
    rng = np.random.default_rng(k)
    a, b = _random_rows(rng, 150, 0.3, 0.5), _random_rows(rng, 170, 0.3, 0.5)
    pa, pb = pack(a), pack(b)
    sims, (i0, _) = dice_ref([pa.to_bitarrays(), pb.to_bitarrays()], 0.2, k=k)
    ours = dice_pairs(pa, pb, 0.2, k=k)
    ref_rows: dict[int, list[float]] = defaultdict(list)
    our_rows: dict[int, list[float]] = defaultdict(list)
    for s, i in zip(sims, i0, strict=True):
        ref_rows[int(i)].append(s)
    for s, i in zip(ours.scores, ours.left, strict=True):
        our_rows[int(i)].append(float(s))
    assert set(ref_rows) == set(our_rows)
    for i, scores in ref_rows.items():
        assert sorted(scores) == pytest.approx(sorted(our_rows[i]), abs=1e-12)
    assert max(np.bincount(ours.left)) <= k


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.floats(0.05, 1.0))
def test_self_comparison_is_the_upper_triangle(seed: int, n: int, threshold: float) -> None:
    rows = _random_rows(np.random.default_rng(seed), n, 0.0, 0.7)
    rows[n // 2] = rows[0]
    bits = np.unpackbits(rows, axis=1).astype(np.int64)
    inter = bits @ bits.T
    pc = bits.sum(axis=1)
    tot = pc[:, None] + pc[None, :]
    dice = np.where(tot > 0, 2.0 * inter / np.maximum(tot, 1), 0.0)
    i, j = np.nonzero(np.triu(dice >= threshold, k=1))
    ours = dice_pairs(pack(rows), None, threshold, workers=2, sort=False)
    assert set(zip(ours.left.tolist(), ours.right.tolist(), strict=True)) == set(
        zip(i.tolist(), j.tolist(), strict=True)
    )
    assert np.allclose(ours.scores, dice[ours.left, ours.right], atol=1e-12)


def test_pruning_skips_pairs_that_cannot_reach_the_threshold() -> None:
    rng = np.random.default_rng(5)
    a = _random_rows(rng, 400, 0.05, 0.6)
    ours = dice_pairs(pack(a), pack(a), 0.9)
    assert ours.comparisons < 0.5 * 400 * 400
    lo, hi = popcount_window(np.array([100]), np.arange(0, 300), 0.8)
    assert (lo[0], hi[0]) == (67, 151)  # 2*67/167 >= 0.8 > 2*66/166, 2*100/250 = 0.8


def test_bad_arguments_are_refused() -> None:
    p = pack(np.zeros((2, 16), np.uint8))
    q = pack(np.zeros((2, 8), np.uint8))
    with pytest.raises(LinkageError, match="lengths differ"):
        dice_pairs(p, q, 0.5)
    with pytest.raises(LinkageError, match="threshold"):
        dice_pairs(p, p, 1.5)
    with pytest.raises(LinkageError, match="k must"):
        dice_pairs(p, p, 0.5, k=0)
