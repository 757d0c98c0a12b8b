"""Dice similarity of packed CLKs: a numba kernel that beats anonlink's C++ one.

Design (measured numbers in ``docs/engine.md``):

* **popcount-bound pruning** — ``Dice(a, b) <= 2 min(pa, pb) / (pa + pb)``, so a row of
  popcount ``pa`` can only reach threshold ``t`` against rows with
  ``t pa / (2 - t) <= pb <= pa (2 - t) / t``. Both sides are sorted by popcount, so that
  window is one contiguous range of the other side found by binary search; everything
  outside it is skipped without touching its bits.
* **register blocking** — four rows of the left side are compared with one right row at a
  time: each right word is loaded once and ANDed with four left words, and the four
  popcount sums stay in registers (LLVM ``ctpop``, the CPU's ``popcnt``).
* **cache tiling** — a chunk of left rows walks the right side in tiles small enough to
  stay in L2, so a right tile is reused by every row of the chunk.
* **threads over blocks** — the kernel is compiled ``nogil``; ``dice_pairs`` splits the
  left rows into chunks of equal estimated work (the pruned ranges) and runs them in a
  thread pool, one thread per core.

Scores are ``2 * c / (pa + pb)`` in float64 and a pair is kept when ``score >= threshold``,
the same rule and arithmetic as anonlink, so the candidate sets are identical.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from linkage.errors import LinkageError
from linkage.packed import PackedClks

_TILE_ROWS = 1024  # right-side rows per cache tile (1024 × 128 B = 128 KiB at 1024 bits)
_CHUNK_GROUPS = 16  # left 4-row groups that share one pass over the tiles
_SLACK = 1e-9  # popcount bounds are widened by this much; the exact test decides


@intrinsic
def _popcount(typingctx, x):
    """LLVM ``ctpop`` on a uint64 (one ``popcnt`` / vectorised ``vpopcntq``)."""
    if x != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(nogil=True, cache=True, inline="always")
def _grow(arr, n):
    out = np.empty(max(2 * arr.shape[0], n), arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _dice_rows(aw, apc, bw, bpc, jlo, jhi, a0, a1, threshold, same):
    """Compare left rows ``a0 .. a1`` (popcount-sorted) with their right ranges.

    ``aw``: ``(na, nw)`` uint64, ``apc``: ``(na,)`` int32, likewise ``bw``/``bpc`` for the
    right side; ``jlo``/``jhi``: ``(na,)`` int64 right range per left row (monotone).
    ``same``: the two sides are one dataset; only pairs ``j > i`` are reported.

    Returns ``(i, j, score, comparisons)``: int64, int64, float64 arrays of the pairs with
    ``score >= threshold`` (unsorted) and the number of pairs whose bits were compared.
    """
    nw = aw.shape[1]
    cap = 4096
    oi = np.empty(cap, np.int64)
    oj = np.empty(cap, np.int64)
    os_ = np.empty(cap, np.float64)
    n = 0
    comparisons = 0
    g0 = a0
    while g0 < a1:
        g1 = min(a1, g0 + 4 * _CHUNK_GROUPS)
        lo_all = jlo[g0]
        hi_all = jhi[g1 - 1]
        for t0 in range(lo_all, hi_all, _TILE_ROWS):
            t1 = min(t0 + _TILE_ROWS, hi_all)
            i = g0
            while i < g1:
                r = min(4, g1 - i)
                lo = max(jlo[i], t0)
                hi = min(jhi[i + r - 1], t1)
                if same:
                    lo = max(lo, i + 1)
                if lo >= hi:
                    i += r
                    continue
                if n + 4 * (hi - lo) > oi.shape[0]:
                    need = n + 4 * (hi - lo)
                    oi = _grow(oi, need)
                    oj = _grow(oj, need)
                    os_ = _grow(os_, need)
                comparisons += r * (hi - lo)
                if r == 4:
                    p0 = apc[i]
                    p1 = apc[i + 1]
                    p2 = apc[i + 2]
                    p3 = apc[i + 3]
                    for j in range(lo, hi):
                        c0 = np.uint64(0)
                        c1 = np.uint64(0)
                        c2 = np.uint64(0)
                        c3 = np.uint64(0)
                        for w in range(nw):
                            b = bw[j, w]
                            c0 += _popcount(aw[i, w] & b)
                            c1 += _popcount(aw[i + 1, w] & b)
                            c2 += _popcount(aw[i + 2, w] & b)
                            c3 += _popcount(aw[i + 3, w] & b)
                        pb = bpc[j]
                        d = p0 + pb
                        s = 2.0 * c0 / d if d > 0 else 0.0
                        if s >= threshold and (not same or j > i):
                            oi[n] = i
                            oj[n] = j
                            os_[n] = s
                            n += 1
                        d = p1 + pb
                        s = 2.0 * c1 / d if d > 0 else 0.0
                        if s >= threshold and (not same or j > i + 1):
                            oi[n] = i + 1
                            oj[n] = j
                            os_[n] = s
                            n += 1
                        d = p2 + pb
                        s = 2.0 * c2 / d if d > 0 else 0.0
                        if s >= threshold and (not same or j > i + 2):
                            oi[n] = i + 2
                            oj[n] = j
                            os_[n] = s
                            n += 1
                        d = p3 + pb
                        s = 2.0 * c3 / d if d > 0 else 0.0
                        if s >= threshold and (not same or j > i + 3):
                            oi[n] = i + 3
                            oj[n] = j
                            os_[n] = s
                            n += 1
                else:
                    for q in range(r):
                        ii = i + q
                        pa = apc[ii]
                        for j in range(lo, hi):
                            if same and j <= ii:
                                continue
                            c = np.uint64(0)
                            for w in range(nw):
                                c += _popcount(aw[ii, w] & bw[j, w])
                            d = pa + bpc[j]
                            s = 2.0 * c / d if d > 0 else 0.0
                            if s >= threshold:
                                oi[n] = ii
                                oj[n] = j
                                os_[n] = s
                                n += 1
                i += r
        g0 = g1
    return oi[:n].copy(), oj[:n].copy(), os_[:n].copy(), comparisons


@dataclass(frozen=True)
class DicePairs:
    """Candidate pairs from one comparison of two CLK sets.

    Attributes:
        scores: ``(m,)`` float64 Dice coefficients, sorted descending (then by ``left``,
            then ``right``, as anonlink orders them) when sorting was asked for.
        left: ``(m,)`` int64 row indices into the left set.
        right: ``(m,)`` int64 row indices into the right set.
        comparisons: number of pairs whose bits were compared (after pruning).
    """

    scores: np.ndarray
    left: np.ndarray
    right: np.ndarray
    comparisons: int


def popcount_window(
    pa: np.ndarray, pb_sorted: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Right-side range that can reach ``threshold`` for each left popcount.

    Args:
        pa: ``(na,)`` left popcounts.
        pb_sorted: ``(nb,)`` right popcounts sorted ascending.
        threshold: Dice threshold in [0, 1].

    Returns:
        ``(lo, hi)``: ``(na,)`` int64 arrays; rows ``lo[i] .. hi[i]-1`` of the sorted
        right side are the only ones that can reach the threshold against left row ``i``.
    """
    pa = pa.astype(np.float64)
    if threshold <= 0:
        return np.zeros(pa.shape, np.int64), np.full(pa.shape, pb_sorted.size, np.int64)
    pmin = np.ceil(threshold * pa / (2.0 - threshold) - 1e-6 - _SLACK * pa)
    pmax = np.floor(pa * (2.0 - threshold) / threshold + 1e-6 + _SLACK * pa)
    lo = np.searchsorted(pb_sorted, pmin, side="left").astype(np.int64)
    hi = np.searchsorted(pb_sorted, pmax, side="right").astype(np.int64)
    return lo, hi


def _default_workers(workers: int | None) -> int:
    if workers is None:
        return max(1, len(os.sched_getaffinity(0)))
    if workers < 1:
        raise LinkageError(f"workers must be at least 1, got {workers}")
    return workers


def _split_work(cost: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split rows into ``parts`` contiguous ranges of about equal summed ``cost``."""
    n = cost.size
    if n == 0:
        return []
    cum = np.cumsum(cost, dtype=np.float64)
    total = cum[-1]
    if total <= 0 or parts <= 1:
        return [(0, n)]
    cuts = np.searchsorted(cum, total * np.arange(1, parts) / parts, side="left")
    cuts = (cuts + 3) // 4 * 4  # keep 4-row groups whole
    edges = np.unique(np.concatenate([[0], np.clip(cuts, 0, n), [n]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


def dice_pairs(
    left: PackedClks,
    right: PackedClks | None,
    threshold: float,
    *,
    k: int | None = None,
    workers: int | None = None,
    sort: bool = True,
) -> DicePairs:
    """All pairs with Dice ``>= threshold`` between two CLK sets (or within one).

    Args:
        left: ``n_a`` packed CLKs.
        right: ``n_b`` packed CLKs, or ``None`` to compare ``left`` with itself (pairs
            ``i < j`` only, for within-body deduplication).
        threshold: Dice threshold in [0, 1].
        k: keep at most the ``k`` best pairs per left row (ties broken by lower right
            index), like anonlink's ``k``.
        workers: threads to use (default: the CPUs this process may run on).
        sort: order the result by descending score, then left, then right index.

    Returns:
        ``DicePairs`` with indices into the callers' (unsorted) row order.

    Raises:
        LinkageError: on mismatched CLK lengths or a threshold outside [0, 1].
    """
    if not 0 <= threshold <= 1:
        raise LinkageError(f"threshold {threshold} is outside [0, 1]")
    if k is not None and k < 1:
        raise LinkageError(f"k must be at least 1, got {k}")
    same = right is None
    other = left if right is None else right
    if other.bit_length != left.bit_length:
        raise LinkageError(f"CLK lengths differ: {left.bit_length} and {other.bit_length} bits")
    if len(left) == 0 or len(other) == 0:
        empty_i = np.empty(0, np.int64)
        return DicePairs(np.empty(0, np.float64), empty_i, empty_i.copy(), 0)
    a_order = np.argsort(left.popcounts, kind="stable")
    a = left.take(a_order)
    if same:
        b_order, b = a_order, a
    else:
        b_order = np.argsort(other.popcounts, kind="stable")
        b = other.take(b_order)
    lo, hi = popcount_window(a.popcounts, b.popcounts, threshold)
    np.maximum.accumulate(lo, out=lo)  # monotone already; guards against rounding
    np.maximum.accumulate(hi, out=hi)
    n_workers = _default_workers(workers)
    cost = np.maximum(hi - lo, 0)
    parts = _split_work(cost, 1 if n_workers == 1 else 8 * n_workers)

    def run(part: tuple[int, int]):
        return _dice_rows(
            a.words, a.popcounts, b.words, b.popcounts, lo, hi, part[0], part[1],
            float(threshold), same,
        )  # fmt: skip

    if n_workers == 1 or len(parts) == 1:
        results = [run(p) for p in parts]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            results = list(pool.map(run, parts))
    si = np.concatenate([r[0] for r in results])
    sj = np.concatenate([r[1] for r in results])
    scores = np.concatenate([r[2] for r in results])
    comparisons = int(sum(r[3] for r in results))
    i = a_order[si]
    j = b_order[sj]
    if same:
        i, j = np.minimum(i, j), np.maximum(i, j)
    if k is not None or sort:
        order = np.lexsort((j, i, -scores))
        i, j, scores = i[order], j[order], scores[order]
    if k is not None:
        keep = _top_k_mask(i, k)
        i, j, scores = i[keep], j[keep], scores[keep]
    return DicePairs(scores, i, j, comparisons)


def _top_k_mask(rows: np.ndarray, k: int) -> np.ndarray:
    """Mask keeping the first ``k`` occurrences of each value of ``rows`` (``(m,)``)."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, sorted_rows.size]))
    rank = np.empty(rows.size, np.int64)
    rank[order] = np.arange(rows.size) - run_start
    return rank < k


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the kernels before timing them."""
    rng = np.random.default_rng(0)
    from linkage.packed import pack

    p = pack(rng.integers(0, 256, (9, 128), dtype=np.uint8))
    dice_pairs(p, p, 0.5, workers=1)
    dice_pairs(p, None, 0.5, workers=1)
