"""Dice similarity on CLK bit matrices: float32 products against few rows, and a numba
top-k kernel on packed words for the k-nearest-neighbour graph of a whole body."""

from __future__ import annotations

import numba
import numpy as np


def unpack(clks: np.ndarray) -> np.ndarray:
    """``(n, nbytes)`` uint8 → ``(n, 8·nbytes)`` float32 of 0/1."""
    return np.unpackbits(clks, axis=1).astype(np.float32)


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, L)`` and ``(m, L)`` 0/1 float32 → ``(n, m)`` float32 Dice coefficients."""
    inter = a @ b.T
    pa, pb = a.sum(axis=1), b.sum(axis=1)
    denom = pa[:, None] + pb[None, :]
    return np.where(denom > 0, 2.0 * inter / np.maximum(denom, 1.0), 0.0).astype(np.float32)


def _words(clks: np.ndarray) -> np.ndarray:
    """``(n, nbytes)`` uint8 → ``(n, nbytes/8)`` uint64 (zero-padded to whole words)."""
    clks = np.ascontiguousarray(clks, dtype=np.uint8)
    pad = (-clks.shape[1]) % 8
    if pad:
        clks = np.hstack([clks, np.zeros((clks.shape[0], pad), np.uint8)])
    return clks.view(np.uint64)


@numba.njit(cache=True, inline="always")
def _pop64(x: np.uint64) -> np.int64:
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(cache=True, parallel=True)
def _top_k(words: np.ndarray, pcs: np.ndarray, k: int) -> np.ndarray:
    n, w = words.shape
    out = np.zeros((n, k), np.float32)
    for i in numba.prange(n):
        best = np.zeros(k, np.float32)  # ascending; best[0] is the smallest kept
        for j in range(n):
            if j == i:
                continue
            inter = 0
            for t in range(w):
                inter += _pop64(words[i, t] & words[j, t])
            denom = pcs[i] + pcs[j]
            s = np.float32(2.0 * inter / denom) if denom > 0 else np.float32(0.0)
            if s > best[0]:
                p = 0
                while p + 1 < k and best[p + 1] < s:
                    best[p] = best[p + 1]
                    p += 1
                best[p] = s
        for p in range(k):
            out[i, p] = best[k - 1 - p]
    return out


def top_k_similarities(clks: np.ndarray, k: int) -> np.ndarray:
    """``(n, nbytes)`` uint8 CLKs → ``(n, k)`` the ``k`` largest Dice to *other* rows,
    descending (0 where there are fewer than ``k`` others).

    The k-nearest-neighbour similarities of the Dice graph: every pair is scored once per
    side by popcount on 64-bit words (numba, all cores), so it is quadratic with a small
    constant (20,000 records ≈ 4·10⁸ pairs, seconds) and holds only ``n·k`` floats.
    """
    words = _words(clks)
    pcs = np.unpackbits(np.ascontiguousarray(clks, np.uint8), axis=1).sum(axis=1)
    return _top_k(words, pcs.astype(np.int64), int(k))


@numba.njit(cache=True, parallel=True)
def pair_scores(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``(n, d)``, ``(m, d)`` float32 and ``(P,)`` row indices → ``(P,)`` dot products
    ``a[i[p]] · b[j[p]]`` (the scores of sparse candidate pairs)."""
    out = np.empty(i.size, np.float32)
    d = a.shape[1]
    for p in numba.prange(i.size):
        s = np.float32(0.0)
        x, y = i[p], j[p]
        for t in range(d):
            s += a[x, t] * b[y, t]
        out[p] = s
    return out


@numba.njit(cache=True)
def best_two(
    rows: np.ndarray, cols: np.ndarray, s: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row ``0..n-1`` of sparse scored pairs: the best column (-1 if none) and the
    margin of its score over the runner-up's (0 with a single candidate: no evidence
    that it stands out). One pass, ``O(P)``."""
    best = np.full(n, -1, np.int64)
    top = np.full(n, -np.inf, np.float32)
    second = np.full(n, -np.inf, np.float32)
    for p in range(rows.size):
        r = rows[p]
        v = s[p]
        if v > top[r]:
            second[r] = top[r]
            top[r] = v
            best[r] = cols[p]
        elif v > second[r]:
            second[r] = v
    margin = np.zeros(n, np.float32)
    for r in range(n):
        if best[r] >= 0 and second[r] > -np.inf:
            margin[r] = top[r] - second[r]
    return best, margin
