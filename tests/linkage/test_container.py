"""The encodings container: both formats round-trip; broken files are refused clearly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from linkage.container import (
    BinaryWriter,
    Encodings,
    decode_encodings,
    iter_binary_records,
    new_ref,
    read_encodings,
    to_json_bytes,
    write_encodings,
)
from linkage.errors import EncodingsFormatError


def _encodings(n: int = 10, bits: int = 1024, seed: int = 0) -> Encodings:
    rng = np.random.default_rng(seed)
    clks = rng.integers(0, 256, size=(n, bits // 8), dtype=np.uint8)
    return Encodings([new_ref() for _ in range(n)], clks, bits, "ab" * 32)


@pytest.mark.parametrize("fmt", ["binary", "json"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    enc = _encodings()
    path = tmp_path / f"e.{fmt}"
    write_encodings(path, enc, fmt)  # type: ignore[arg-type]
    back = read_encodings(path)
    assert back.refs == enc.refs
    assert np.array_equal(back.clks, enc.clks)
    assert back.bit_length == 1024 and back.schema_id == enc.schema_id


def test_streaming_reader_yields_all_records_in_chunks(tmp_path: Path) -> None:
    enc = _encodings(25)
    path = tmp_path / "e.kkh"
    write_encodings(path, enc)
    chunks = list(iter_binary_records(path.open("rb"), chunk_rows=7))
    assert [len(refs) for _, refs, _ in chunks] == [7, 7, 7, 4]
    assert [ref for _, refs, _ in chunks for ref in refs] == enc.refs
    assert np.array_equal(np.vstack([c for _, _, c in chunks]), enc.clks)


def test_truncated_and_altered_binary_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.kkh"
    write_encodings(path, _encodings())
    data = path.read_bytes()
    with pytest.raises(EncodingsFormatError, match=r"checksum|truncated"):
        decode_encodings(data[:-50])
    altered = bytearray(data)
    altered[100] ^= 1
    with pytest.raises(EncodingsFormatError, match="checksum"):
        decode_encodings(bytes(altered))
    with pytest.raises(EncodingsFormatError):
        list(iter_binary_records(io.BytesIO(data[:-50])))


def test_clkhash_json_without_refs_is_refused() -> None:
    with pytest.raises(EncodingsFormatError, match="refs"):
        decode_encodings(b'{"clks": ["AAAAAAAAAAA="]}')


def test_mixed_clk_lengths_are_refused() -> None:
    enc = _encodings(2)
    doc = to_json_bytes(enc).replace(b'"bit_length": 1024', b'"bit_length": 512')
    with pytest.raises(EncodingsFormatError, match="bit_length"):
        decode_encodings(doc)


def test_duplicate_refs_are_refused() -> None:
    enc = _encodings(2)
    dup = Encodings([enc.refs[0], enc.refs[0]], enc.clks, 1024, None)
    with pytest.raises(EncodingsFormatError, match="unique"):
        decode_encodings(to_json_bytes(dup))


def test_writer_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    path = tmp_path / "e.kkh"
    with (
        pytest.raises(EncodingsFormatError),
        BinaryWriter(path, schema_id=None, bit_length=1024) as w,
    ):
        w.write(["a" * 32], np.zeros((1, 64), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_garbage_is_not_an_encodings_file() -> None:
    with pytest.raises(EncodingsFormatError, match="not an encodings file"):
        decode_encodings(b"name,dob\n")
