"""Every record's two best partners per body, taken from the exhaustive comparison pass.

One pass of the Dice kernel over every pair of two CLK sets does two things at once:

* it reports the pairs scoring ``>= threshold`` (the candidates, as
  ``similarity.dice_pairs`` would), and
* it keeps, for every row of *both* sides, the two best partners on the other side that
  score ``>= floor`` (``floor <= threshold``), without reporting the pairs in between.

The second part is what the learned threshold (``linkage.threshold``) and the review list
need: the mutual best pairs and the runner-up scores, including those just below the
threshold. Reporting every pair down to the floor instead (the earlier way: per-record
top-``k`` over all pairs ``>= floor``) makes the kernel write and sort a large share of all
pairs on hardened schemas, whose strangers score near the floor: 74 s against 1.1 s at
21 k records. Here the extra work is two compare-and-swaps per pair above the floor.

Shapes: ``Neighbours.score``/``partner`` are ``(n, 2)`` (best, runner-up) per row;
partner ``-1`` and score ``-1.0`` where a row has fewer than two partners ``>= floor``.
Ties keep the lower partner index, like ``threshold.mutual_best``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from linkage.errors import LinkageError
from linkage.packed import PackedClks
from linkage.similarity import (
    DicePairs,
    _default_workers,
    _grow,
    _popcount,
    _split_work,
    popcount_window,
)


@dataclass(frozen=True)
class Neighbours:
    """Two best partners (``>= floor``) of each row: ``score``/``partner`` ``(n, 2)``."""

    score: np.ndarray
    partner: np.ndarray


@numba.njit(nogil=True, cache=True, inline="always")
def _push(bs, bj, r, s, j):
    """Offer partner ``j`` at score ``s`` to row ``r``'s best two (ties: lower ``j``)."""
    if s > bs[r, 0] or (s == bs[r, 0] and j < bj[r, 0]):
        bs[r, 1] = bs[r, 0]
        bj[r, 1] = bj[r, 0]
        bs[r, 0] = s
        bj[r, 0] = j
    elif s > bs[r, 1] or (s == bs[r, 1] and j < bj[r, 1]):
        bs[r, 1] = s
        bj[r, 1] = j


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _dice_rows_best(aw, apc, aid, bw, bpc, bid, jlo, jhi, a0, a1, threshold, floor, same,
                    row_s, row_j, col_s, col_j):  # fmt: skip
    """Like ``similarity._dice_rows`` (one left row at a time against its right range),
    and offers every pair ``>= floor`` to both rows' best two. ``aid``/``bid`` are the
    rows' indices in the callers' order (what ``row_j``/``col_j`` hold)."""
    nw = aw.shape[1]
    oi = np.empty(4096, np.int64)
    oj = np.empty(4096, np.int64)
    os_ = np.empty(4096, np.float64)
    n = 0
    comparisons = 0
    for i in range(a0, a1):
        lo = jlo[i]
        hi = jhi[i]
        if same:
            lo = max(lo, i + 1)
        if lo >= hi:
            continue
        if n + (hi - lo) > oi.shape[0]:
            need = n + (hi - lo)
            oi = _grow(oi, need)
            oj = _grow(oj, need)
            os_ = _grow(os_, need)
        comparisons += hi - lo
        pa = apc[i]
        # This row's best two live in locals during its sweep (written back after).
        s0 = row_s[i, 0]
        j0 = row_j[i, 0]
        s1 = row_s[i, 1]
        j1 = row_j[i, 1]
        for j in range(lo, hi):
            c = np.uint64(0)
            for w in range(nw):
                c += _popcount(aw[i, w] & bw[j, w])
            d = pa + bpc[j]
            s = 2.0 * c / d if d > 0 else 0.0
            if s < floor:
                continue
            if s >= s1:
                jj = bid[j]
                if s > s0 or (s == s0 and jj < j0):
                    s1, j1, s0, j0 = s0, j0, s, jj
                elif s > s1 or jj < j1:
                    s1, j1 = s, jj
            if s >= col_s[j, 1]:
                _push(col_s, col_j, j, s, aid[i])
            if s >= threshold:
                oi[n] = i
                oj[n] = j
                os_[n] = s
                n += 1
        row_s[i, 0] = s0
        row_j[i, 0] = j0
        row_s[i, 1] = s1
        row_j[i, 1] = j1
    return oi[:n].copy(), oj[:n].copy(), os_[:n].copy(), comparisons


def _merge_best(score: np.ndarray, partner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best two of ``(n, c)`` candidate scores/partners per row (ties: lower partner),
    duplicates of one partner counted once; ``-1`` where absent."""
    n = score.shape[0]
    if n == 0 or score.shape[1] == 0:
        return np.full((n, 2), -1.0), np.full((n, 2), -1, np.int64)
    key_p = np.where(partner < 0, np.iinfo(np.int64).max, partner)
    order = np.lexsort((key_p, -score), axis=-1) if n else np.zeros((0, 0), np.int64)
    s = np.take_along_axis(score, order, axis=1)
    p = np.take_along_axis(partner, order, axis=1)
    out_s = np.full((n, 2), -1.0)
    out_p = np.full((n, 2), -1, np.int64)
    out_s[:, 0], out_p[:, 0] = s[:, 0], p[:, 0]
    # Runner-up: the first candidate that is a different partner from the best.
    for c in range(1, s.shape[1]):
        take = (out_p[:, 1] < 0) & (p[:, c] >= 0) & (p[:, c] != out_p[:, 0])
        out_s[take, 1], out_p[take, 1] = s[take, c], p[take, c]
    return out_s, out_p


def dice_best(left: PackedClks, right: PackedClks | None, threshold: float, floor: float, *,
              workers: int | None = None) -> tuple[DicePairs, Neighbours, Neighbours]:  # fmt: skip
    """Pairs ``>= threshold`` (unsorted) and each side's two best partners ``>= floor``.

    Args:
        left, right: packed CLK sets; ``right=None`` compares ``left`` with itself
            (pairs ``i < j``; then both ``Neighbours`` are the same, merged).
        threshold: report pairs at or above it.
        floor: track partners at or above it (``0 <= floor <= threshold <= 1``).
        workers: threads (default: the CPUs this process may run on).

    Returns:
        ``(pairs, left_best, right_best)``; partner indices are in the other side's order.
    """
    if not 0 <= floor <= threshold <= 1:
        raise LinkageError(f"need 0 <= floor ({floor}) <= threshold ({threshold}) <= 1")
    same = right is None
    other = left if right is None else right
    if other.bit_length != left.bit_length:
        raise LinkageError(f"CLK lengths differ: {left.bit_length} and {other.bit_length} bits")
    na, nb = len(left), len(other)
    a_order = np.argsort(left.popcounts, kind="stable")
    a = left.take(a_order)
    b_order, b = (a_order, a) if same else (
        np.argsort(other.popcounts, kind="stable"), None)  # fmt: skip
    if b is None:
        b = other.take(b_order)
    lo, hi = popcount_window(a.popcounts, b.popcounts, floor)
    np.maximum.accumulate(lo, out=lo)
    np.maximum.accumulate(hi, out=hi)
    n_workers = _default_workers(workers)
    parts = _split_work(np.maximum(hi - lo, 0).astype(np.float64),
                        1 if n_workers == 1 else 4 * n_workers)  # fmt: skip
    row_s = np.full((na, 2), -1.0)
    row_j = np.full((na, 2), -1, np.int64)
    a_id = a_order.astype(np.int64)
    b_id = b_order.astype(np.int64)

    def run(part: tuple[int, int]):
        col_s = np.full((nb, 2), -1.0)
        col_j = np.full((nb, 2), -1, np.int64)
        res = _dice_rows_best(a.words, a.popcounts, a_id, b.words, b.popcounts, b_id, lo, hi,
                              part[0], part[1], float(threshold), float(floor), same,
                              row_s, row_j, col_s, col_j)  # fmt: skip
        return res, col_s, col_j

    if n_workers == 1 or len(parts) <= 1:
        results = [run(p) for p in parts]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            results = list(pool.map(run, parts))
    empty_i = np.empty(0, np.int64)
    si = np.concatenate([r[0][0] for r in results] or [empty_i])
    sj = np.concatenate([r[0][1] for r in results] or [empty_i])
    scores = np.concatenate([r[0][2] for r in results] or [np.empty(0)])
    comparisons = int(sum(r[0][3] for r in results))
    i, j = a_order[si], b_order[sj]
    if same:
        i, j = np.minimum(i, j), np.maximum(i, j)
    pairs = DicePairs(scores, i.astype(np.int64), j.astype(np.int64), comparisons)
    # Rows were tracked in sorted order; columns once per part: merge, then unsort.
    col_cands_s = [r[1] for r in results] or [np.full((nb, 2), -1.0)]
    col_cands_j = [r[2] for r in results] or [np.full((nb, 2), -1, np.int64)]
    if same:
        col_cands_s.append(row_s)
        col_cands_j.append(row_j)
    cs, cj = _merge_best(np.concatenate(col_cands_s, axis=1), np.concatenate(col_cands_j, axis=1))
    right_best = _unsort(cs, cj, b_order)
    left_best = right_best if same else _unsort(row_s, row_j, a_order)
    return pairs, left_best, right_best


def _unsort(s: np.ndarray, j: np.ndarray, order: np.ndarray) -> Neighbours:
    out_s = np.empty_like(s)
    out_j = np.empty_like(j)
    out_s[order] = s
    out_j[order] = j
    return Neighbours(out_s, out_j)
