"""Match tokens: random 128-bit identifiers for groups, one for every group."""

from __future__ import annotations

import secrets

import numpy as np


def new_token() -> str:
    """A fresh random 128-bit token as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_tokens(n_groups: int) -> list[str]:
    """``n_groups`` fresh, distinct random tokens (singleton groups get one too)."""
    if n_groups < 0:
        raise ValueError(f"n_groups must not be negative, got {n_groups}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n_groups:
        tok = new_token()
        if tok not in seen:  # a collision of 128-bit tokens is practically impossible
            seen.add(tok)
            out.append(tok)
    return out


def new_token_bytes(n: int, *, avoid: np.ndarray | None = None) -> np.ndarray:
    """``n`` fresh, distinct random 128-bit tokens as an ``(n, 16)`` uint8 array.

    None equals a row of ``avoid`` (``(m, 16)`` uint8, e.g. the tokens of the last run);
    the hex of a row is what ``new_token`` would give.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    out = np.frombuffer(secrets.token_bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    others = np.empty((0, 16), np.uint8) if avoid is None else avoid.reshape(-1, 16)
    # A collision of 128-bit tokens is practically impossible: the first 64 bits, sorted,
    # show the candidates cheaply, and only those are compared in full.
    every = np.concatenate([others, out])
    head = np.ascontiguousarray(every[:, :8]).view(">u8").ravel()
    head.sort()
    if not np.any(head[1:] == head[:-1]):
        return out
    seen = {bytes(row) for row in others}
    for i in range(n):
        while bytes(out[i]) in seen:
            out[i] = np.frombuffer(secrets.token_bytes(16), dtype=np.uint8)
        seen.add(bytes(out[i]))
    return out
