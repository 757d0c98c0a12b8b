"""Credentials: 256-bit random secrets shown once, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
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


def body_view_token(view_key: str, body: str, token: str) -> str:
    """The token a body sees for a stable ``token`` in one run (32 hex characters).

    HMAC-SHA-256 under the run's secret ``view_key`` (hex) of the body name and the stable
    token: the same within one run and body (so a body's records of one group still share
    it), unrelated across runs and across bodies, and not invertible without the key.
    """
    message = body.encode("utf-8") + b"\0" + token.encode("ascii")
    return hmac.new(bytes.fromhex(view_key), message, hashlib.sha256).hexdigest()[:32]
