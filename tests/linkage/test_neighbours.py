"""Two best partners per row from the comparison pass, against a brute-force reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.neighbours import dice_best
from linkage.packed import pack
from linkage.similarity import dice_pairs
from linkage.threshold import mutual_best, mutual_best_neighbours, runner_ups


def _brute(a: np.ndarray, b: np.ndarray, same: bool) -> np.ndarray:
    bits_a = np.unpackbits(a, axis=1).astype(np.int64)
    bits_b = np.unpackbits(b, axis=1).astype(np.int64)
    total = bits_a.sum(1)[:, None] + bits_b.sum(1)[None, :]
    s = np.where(total > 0, 2.0 * (bits_a @ bits_b.T) / np.maximum(total, 1), 0.0)
    if same:
        np.fill_diagonal(s, -1.0)
    return s


def _top2(s: np.ndarray, floor: float) -> list[list[int]]:
    out = []
    for row in s:
        order = np.lexsort((np.arange(row.size), -row))  # best first, ties: lower index
        out.append([int(j) for j in order if row[j] >= floor][:2])
    return out


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    na=st.integers(1, 30),
    nb=st.integers(1, 30),
    same=st.booleans(),
    floor=st.floats(0.3, 0.6),
    gap=st.floats(0.0, 0.2),
)
def test_best_two_and_pairs_match_brute_force(seed, na, nb, same, floor, gap) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (na, 8), dtype=np.uint8)
    b = a if same else rng.integers(0, 256, (nb, 8), dtype=np.uint8)
    if not same:
        k = min(na, nb) // 3
        a[:k] = b[:k]  # some exact copies
    a[1::4] = a[0]  # repeated rows: ties between partners
    threshold = min(1.0, floor + gap)
    pairs, near_a, near_b = dice_best(pack(a), None if same else pack(b), threshold, floor,
                                      workers=2)  # fmt: skip
    s = _brute(a, b, same)
    for near, ref in ((near_a, s), (near_b, s.T)):
        for row, want in enumerate(_top2(ref, floor)):
            assert [int(j) for j in near.partner[row] if j >= 0] == want
            assert np.allclose(near.score[row, : len(want)], ref[row, want])
    ref_pairs = dice_pairs(pack(a), None if same else pack(b), threshold)
    assert sorted(zip(pairs.left.tolist(), pairs.right.tolist(), strict=True)) == sorted(
        zip(ref_pairs.left.tolist(), ref_pairs.right.tolist(), strict=True)
    )


def test_mutual_best_from_neighbours_agrees_with_the_pair_list() -> None:
    # body 0: records 0, 1; body 1: records 2, 3 (as in test_threshold).
    body = np.array([0, 0, 1, 1])
    left = np.array([0, 0, 1, 1])
    right = np.array([2, 3, 2, 3])
    scores = np.array([0.95, 0.80, 0.85, 0.90])
    best_s = np.full((4, 2, 2), -1.0)
    best_j = np.full((4, 2, 2), -1, np.int64)
    best_s[0, 1], best_j[0, 1] = [0.95, 0.80], [2, 3]
    best_s[1, 1], best_j[1, 1] = [0.90, 0.85], [3, 2]
    best_s[2, 0], best_j[2, 0] = [0.95, 0.85], [0, 1]
    best_s[3, 0], best_j[3, 0] = [0.90, 0.80], [1, 0]
    s, x, y = mutual_best_neighbours(best_s, best_j, body)
    mask = mutual_best(left, right, scores, body)
    assert sorted(zip(x.tolist(), y.tolist(), s.tolist(), strict=True)) == sorted(
        zip(left[mask].tolist(), right[mask].tolist(), scores[mask].tolist(), strict=True)
    )
    second = best_s[:, :, 1].ravel()
    assert sorted(second[second >= 0].tolist()) == sorted(
        runner_ups(left, right, scores, body).tolist()
    )
