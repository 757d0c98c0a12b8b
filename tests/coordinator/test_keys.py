"""coordinator.keys: key pair files, passphrases and the errors a coordinator sees."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from coordinator.keys import (
    KeyFileError,
    fingerprint_of,
    load_private_key,
    new_private_key,
    read_public_key,
    write_key_pair,
)
from coordinator.signals import load_private_key as contract_loader

PASS = "correct horse battery staple"


def make(tmp_path: Path) -> tuple[Path, Path, str]:
    key = new_private_key()
    fp = write_key_pair(tmp_path / "c.key.pem", tmp_path / "c.pub.pem", key, PASS)
    return tmp_path / "c.key.pem", tmp_path / "c.pub.pem", fp


def test_key_pair_round_trip(tmp_path: Path) -> None:
    private, public, fp = make(tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in private.read_bytes()
    key = contract_loader(private, PASS)
    assert fingerprint_of(key.public_key()) == fp == fingerprint_of(read_public_key(public))


def test_refuses_to_overwrite_and_short_passphrase(tmp_path: Path) -> None:
    make(tmp_path)
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_pair(tmp_path / "c.key.pem", tmp_path / "x.pub", new_private_key(), PASS)
    with pytest.raises(KeyFileError, match="at least 12"):
        write_key_pair(tmp_path / "a", tmp_path / "b", new_private_key(), "short")


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [(None, "passphrase-protected: give its passphrase"), ("", "give its passphrase"),
     ("wrong passphrase!", "wrong passphrase")],
)  # fmt: skip
def test_missing_or_wrong_passphrase_is_a_clear_error(
    tmp_path: Path, passphrase: str | None, message: str
) -> None:
    private, _, _ = make(tmp_path)
    with pytest.raises(KeyFileError, match=message) as info:
        load_private_key(private, passphrase)
    assert str(private) in str(info.value)


def test_missing_unencrypted_or_public_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="private key file not found"):
        load_private_key(tmp_path / "none.pem", PASS)
    _, public, _ = make(tmp_path)
    with pytest.raises(KeyFileError, match="not a private key file"):
        load_private_key(public, PASS)
    plain = tmp_path / "plain.pem"
    plain.write_bytes(
        new_private_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="not passphrase-protected"):
        load_private_key(plain, PASS)
    with pytest.raises(KeyFileError, match="this is a PRIVATE key"):
        read_public_key(plain)
