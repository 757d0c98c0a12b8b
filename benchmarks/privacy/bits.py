"""Dice similarity on CLK bit matrices (float32 matrix products, blocked)."""

from __future__ import annotations

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


def top_k_similarities(a: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """``(n, L)`` → ``(n, k)`` the ``k`` largest Dice to *other* rows, descending."""
    n = a.shape[0]
    out = np.zeros((n, k), dtype=np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        d = dice(a[lo:hi], a)
        d[np.arange(hi - lo), np.arange(lo, hi)] = -1.0
        part = -np.partition(-d, k - 1, axis=1)[:, :k]
        out[lo:hi] = -np.sort(-part, axis=1)
    return out
