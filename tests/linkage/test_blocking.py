from __future__ import annotations

import numpy as np
import pytest

from linkage.blocking import BlockingConfig, choose_parameters, lsh_candidates
from linkage.errors import LinkageError
from linkage.packed import PackedClks, pack
from linkage.similarity import dice_pairs


def _together(arrays: list[np.ndarray]) -> tuple[PackedClks, np.ndarray, np.ndarray]:
    packed = [pack(a) for a in arrays]
    clks = PackedClks(
        np.concatenate([p.words for p in packed]),
        np.concatenate([p.popcounts for p in packed]),
        1024,
    )
    sizes = np.array([len(p) for p in packed])
    return clks, np.repeat(np.arange(len(arrays)), sizes), np.r_[0, np.cumsum(sizes)[:-1]]


def _exhaustive(arrays, threshold, offsets) -> dict[tuple[int, int], float]:
    out = {}
    for a in range(len(arrays)):
        for b in range(a + 1, len(arrays)):
            r = dice_pairs(pack(arrays[a]), pack(arrays[b]), threshold)
            for i, j, s in zip(r.left + offsets[a], r.right + offsets[b], r.scores, strict=True):
                out[(int(i), int(j))] = float(s)
    return out


def test_keeps_nearly_all_pairs_above_threshold_and_cuts_comparisons(noisy) -> None:
    arrays, _ = noisy(3000, 3, seed=2, flip=0.1)
    clks, body, offsets = _together(arrays)
    found = lsh_candidates(clks, body, np.zeros(3, bool), 0.8)
    truth = _exhaustive(arrays, 0.8, offsets)
    pairs = list(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert len(set(pairs)) == len(pairs), "pairs are reported once"
    assert set(pairs) <= set(truth)
    for (i, j), s in zip(pairs, found.scores, strict=True):
        assert truth[(i, j)] == pytest.approx(s, abs=1e-12)
    completeness = len(pairs) / len(truth)
    all_pairs = sum(len(a) * len(b) for k, a in enumerate(arrays) for b in arrays[k + 1 :])
    assert completeness >= 0.995
    assert found.comparisons * 20 < all_pairs
    assert not (body[found.left] == body[found.right]).any()


def test_dedup_bodies_pair_their_own_records(noisy) -> None:
    arrays, _ = noisy(300, 2, seed=4, flip=0.05)
    doubled = np.concatenate([arrays[0], arrays[0][:50]])
    clks, body, _ = _together([doubled, arrays[1]])
    found = lsh_candidates(clks, body, np.array([True, False]), 0.9)
    within = body[found.left] == body[found.right]
    assert within.sum() >= 50
    assert (body[found.left][within] == 0).all()


def test_huge_buckets_are_skipped_and_counted() -> None:
    rows = np.zeros((40, 128), np.uint8)
    rows[:, :4] = 0xFF  # every CLK identical: one bucket per band
    clks, body, _ = _together([rows[:20], rows[20:]])
    cfg = BlockingConfig(bits_per_band=8, bands=3, max_bucket=10)
    found = lsh_candidates(clks, body, np.zeros(2, bool), 0.9, cfg)
    assert found.skipped_buckets == 3 and found.comparisons == 0
    found = lsh_candidates(clks, body, np.zeros(2, bool), 0.9, BlockingConfig(bands=3))
    assert len(found.left) == 400


def test_parameters_follow_size_and_threshold() -> None:
    small = pack(np.random.default_rng(0).integers(0, 256, (1000, 128), dtype=np.uint8))
    r, bands_low = choose_parameters(small, 0.7, BlockingConfig())
    _, bands_high = choose_parameters(small, 0.95, BlockingConfig())
    assert r == 12 and bands_high < bands_low <= BlockingConfig().max_bands
    assert choose_parameters(small, 0.7, BlockingConfig(bits_per_band=9, bands=4)) == (9, 4)
    with pytest.raises(LinkageError):
        lsh_candidates(small, np.zeros(1000, np.int64), np.zeros(1, bool), 0.8,
                       BlockingConfig(max_bucket=1))  # fmt: skip
