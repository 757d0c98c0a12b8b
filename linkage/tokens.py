"""Match tokens: random 128-bit identifiers for groups, one for every group."""

from __future__ import annotations

import secrets


def new_token() -> str:
    """A fresh random 128-bit token as 32 lowercase hex characters."""
    return secrets.token_hex(16)
