"""Match tokens: random 128-bit identifiers for groups, one for every group."""

from __future__ import annotations

import secrets


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
