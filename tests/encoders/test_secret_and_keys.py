from __future__ import annotations

import stat
from pathlib import Path

import pytest

from encoders.keys import KeysFileError, KeysWriter, read_keys, read_mapping
from encoders.secret import SecretError, fingerprint, new_secret, read_secret, write_secret


def test_secret_round_trip_private_file_and_fingerprint(tmp_path: Path) -> None:
    secret = new_secret()
    assert len(secret) == 32
    path = tmp_path / "secret.txt"
    write_secret(path, secret)
    assert read_secret(path) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fp = fingerprint(secret)
    assert len(fp) == 19 and fp.count("-") == 3
    assert fingerprint(new_secret()) != fp


def test_write_secret_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    write_secret(path, new_secret())
    with pytest.raises(SecretError, match="already exists"):
        write_secret(path, new_secret())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("zz" * 32, "not hexadecimal"),
        ("ab" * 15, "120 bits"),
        ("ab" * 32 + "\n" + "cd" * 32, "one line"),
    ],
)
def test_bad_secret_files_are_refused_with_a_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "secret.txt"
    path.write_text(content)
    with pytest.raises(SecretError, match=message):
        read_secret(path)


def test_missing_secret_file(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="not found"):
        read_secret(tmp_path / "nope.txt")


def test_keys_writer_is_atomic_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "body.keys.csv"
    writer = KeysWriter(path)
    writer.write([("a" * 32, "R1"), ("b" * 32, "R2")])
    assert not path.exists()
    writer.close()
    assert read_keys(path) == {"a" * 32: "R1", "b" * 32: "R2"}
    aborted = KeysWriter(tmp_path / "other.keys.csv")
    aborted.write([("c" * 32, "R3")])
    aborted.abort()
    assert list(tmp_path.iterdir()) == [path]


def test_mapping_file_needs_its_header(tmp_path: Path) -> None:
    path = tmp_path / "mapping.csv"
    path.write_text("ref,token\nr1,t1\n")
    assert read_mapping(path) == {"r1": "t1"}
    path.write_text("token,ref\nt1,r1\n")
    with pytest.raises(KeysFileError, match="header ref,token"):
        read_mapping(path)
