"""The coordinator's key pair: X25519, private key PEM encrypted with a passphrase.

``kakehashi keys new`` writes two files: the private key (PKCS#8 PEM, encrypted with the
passphrase by ``cryptography``'s best available scheme, readable by its owner only) that
never leaves the coordinator's machine, and the public key (PEM) that is set on the
project and given to the bodies. Bodies compare the key's fingerprint with the
coordinator by phone before they encrypt anything to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from linkage.errors import LinkageError
from linkage.signals import key_fingerprint, public_key_from_pem, public_key_raw

MIN_PASSPHRASE = 12
PASSPHRASE_ENV = "KAKEHASHI_KEY_PASSPHRASE"


class KeyFileError(LinkageError):
    """A key file is missing or malformed, or the passphrase is missing or wrong."""


def new_private_key() -> Any:
    """A fresh X25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.generate()


def fingerprint_of(public_key: Any) -> str:
    """The phone-readable fingerprint of a public key (see linkage.signals.key_fingerprint)."""
    return key_fingerprint(public_key_raw(public_key))


def _write_new(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as exc:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a key file") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_key_pair(
    private_path: str | Path,
    public_path: str | Path,
    private_key: Any,
    passphrase: str,
    *,
    overwrite: bool = False,
) -> str:
    """Write the encrypted private key (0600) and the public key; return the fingerprint."""
    from cryptography.hazmat.primitives import serialization

    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyFileError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    private_path, public_path = Path(private_path), Path(public_path)
    if private_path.resolve() == public_path.resolve():
        raise KeyFileError("the private and public key files must differ")
    if not overwrite:
        for path in (private_path, public_path):
            if path.exists():
                raise KeyFileError(f"{path}: already exists; refusing to overwrite a key file")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    public = private_key.public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600, overwrite)
    _write_new(public_path, public_pem, 0o644, overwrite)
    return fingerprint_of(public)


def read_public_key(path: str | Path) -> Any:
    """An X25519 public key from a PEM file; KeyFileError with the file's name otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path}: public key file not found") from exc
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{path}: this is a PRIVATE key; give the public key file (*.pub.pem) instead, "
            "and never send the private key to anyone"
        )
    try:
        return public_key_from_pem(data)
    except LinkageError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def load_private_key(path: str | Path, passphrase: str | bytes | None) -> Any:
    """Read and decrypt the coordinator's private key.

    Raises KeyFileError with a clear message when the file is missing, is not a private
    key, is not passphrase-protected, the passphrase is missing or wrong, or the key is
    not an X25519 key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path}: private key file not found") from exc
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the private key file") from exc
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(f"{path}: not a private key file (PEM 'PRIVATE KEY' expected)")
    if b"ENCRYPTED PRIVATE KEY" not in data:
        raise KeyFileError(
            f"{path}: the private key is not passphrase-protected; make keys with "
            "`kakehashi keys new`"
        )
    if not passphrase:
        raise KeyFileError(
            f"{path}: the private key is passphrase-protected: give its passphrase "
            f"(prompt, or the environment variable {PASSPHRASE_ENV})"
        )
    secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except ValueError as exc:
        raise KeyFileError(f"{path}: wrong passphrase, or the key file is damaged") from exc
    except TypeError as exc:  # pragma: no cover - guarded by the ENCRYPTED check above
        raise KeyFileError(f"{path}: {exc}") from exc
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path}: not an X25519 private key")
    return key


def read_passphrase(*, confirm: bool = False, prompt: str = "秘密鍵のパスフレーズ") -> str:
    """The key passphrase from ``KAKEHASHI_KEY_PASSPHRASE`` or, failing that, a hidden prompt.

    With ``confirm`` (a new key) the prompt asks twice and both must agree.
    """
    import getpass

    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    try:
        first = getpass.getpass(f"{prompt} (passphrase): ")
        if confirm and getpass.getpass("もう一度 (again): ") != first:
            raise KeyFileError("the two passphrases differ")
    except EOFError as exc:
        raise KeyFileError(
            f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal to be asked"
        ) from exc
    return first
