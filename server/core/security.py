"""Credentials: 256-bit random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

CREDENTIAL_PREFIX = "kkh_"


def new_credential() -> str:
    """A fresh credential: ``kkh_`` + 256 random bits, URL-safe base64."""
    return CREDENTIAL_PREFIX + secrets.token_urlsafe(32)


def hash_credential(secret: str) -> str:
    """Hex SHA-256 of the credential; the only form the server stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_id() -> str:
    """A random public identifier (128 bits, hex) for projects, uploads, runs, credentials."""
    return secrets.token_hex(16)
