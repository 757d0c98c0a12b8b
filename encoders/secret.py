"""The linkage secret: 256 random bits shared by the bodies out of band, never with the server.

A secret file is text: one line of 64 hexadecimal characters (comment lines starting
with ``#`` are allowed). The fingerprint is a short digest bodies read to each other by
phone to confirm they hold the same secret; it reveals nothing useful about the secret.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

SECRET_BYTES = 32
MIN_SECRET_BYTES = 16  # 128 bits


class SecretError(ValueError):
    """The secret file is missing, unreadable, malformed or too short."""


def new_secret() -> bytes:
    """256 fresh random bits."""
    return secrets.token_bytes(SECRET_BYTES)


def fingerprint(secret: bytes) -> str:
    """A short, phone-readable fingerprint, e.g. ``7F3A-91C2-0B5D-E844``."""
    digest = hashlib.sha256(b"kakehashi-secret-fingerprint\x00" + secret).hexdigest().upper()
    return "-".join(digest[i : i + 4] for i in range(0, 16, 4))


def write_secret(path: str | Path, secret: bytes, *, overwrite: bool = False) -> None:
    """Write ``secret`` to a new file readable only by its owner (0600)."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise SecretError(f"{path}: already exists; refusing to overwrite a secret") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("# Kakehashi linkage secret. Share only with the participating bodies,\n")
        handle.write("# never with the linkage server. Fingerprint: " + fingerprint(secret) + "\n")
        handle.write(secret.hex() + "\n")


def read_secret(path: str | Path) -> bytes:
    """Read and check a secret file.

    Raises:
        SecretError: the file is missing, empty, not hexadecimal or shorter than 128 bits.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise SecretError(f"{path}: secret file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot read the secret file as text") from exc
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise SecretError(f"{path}: the secret file is empty")
    if len(lines) > 1:
        raise SecretError(f"{path}: expected one line of hexadecimal, found {len(lines)} lines")
    try:
        secret = bytes.fromhex(lines[0])
    except ValueError as exc:
        raise SecretError(f"{path}: the secret is not hexadecimal") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"{path}: the secret has {len(secret) * 8} bits; at least {MIN_SECRET_BYTES * 8} "
            "are required (make one with `kakehashi secret new`)"
        )
    return secret
