"""Upload ingestion: both container formats give the same stored records; checks refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_testdata import SCHEMA, binary_bytes, encodings, json_bytes

from server.core.problems import Problem
from server.storage import duplicate_refs, ingest, read_records, refs_to_hex

PROJECT = {"schema_id": SCHEMA.schema_id, "bit_length": SCHEMA.bit_length}


def _ingest(tmp: Path, data: bytes, name: str) -> tuple[list[str], np.ndarray]:
    raw, out = tmp / f"{name}.raw", tmp / f"{name}.rec"
    raw.write_bytes(data)
    parsed = ingest(raw, out, PROJECT)
    refs, clks = read_records(out, parsed.bit_length)
    assert refs_to_hex(parsed.refs) == refs_to_hex(refs)
    return refs_to_hex(refs), clks


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_binary_and_json_store_identical_records(tmp_path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    enc = encodings(rng.integers(0, 256, (n, SCHEMA.bit_length // 8), dtype=np.uint8))
    refs_b, clks_b = _ingest(tmp_path, binary_bytes(enc), "b")
    refs_j, clks_j = _ingest(tmp_path, json_bytes(enc), "j")
    assert refs_b == refs_j == enc.refs
    assert np.array_equal(clks_b, enc.clks) and np.array_equal(clks_j, enc.clks)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=40), st.lists(st.integers(0, 20), max_size=40))
def test_duplicate_refs_counts_repeats(new: list[int], old: list[int]) -> None:
    def as_refs(xs: list[int]) -> np.ndarray:
        out = np.zeros((len(xs), 16), np.uint8)
        out[:, 0] = xs
        return out

    expected = len(new) + len(old) - len(set(new) | set(old))
    assert duplicate_refs(as_refs(new), [as_refs(old)]) == expected


def test_failed_ingest_leaves_no_records_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    enc = encodings(rng.integers(0, 256, (50, 128), dtype=np.uint8))
    raw, out = tmp_path / "x.raw", tmp_path / "x.rec"
    raw.write_bytes(binary_bytes(enc)[:-10])
    with pytest.raises(Problem) as info:
        ingest(raw, out, PROJECT)
    assert info.value.status == 422 and not out.exists()
