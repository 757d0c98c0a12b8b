"""Reading a body's uploads into place and matching 16-byte rows (issue 15, item 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.storage import match_rows, read_body, read_records, row_order, unique_rows


def _write(path: Path, rows: np.ndarray) -> None:
    path.write_bytes(rows.tobytes())


def test_read_body_concatenates_uploads_across_chunk_boundaries(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    parts = [rng.integers(0, 256, (n, 16 + 8), dtype=np.uint8) for n in (20, 0, 7, 1)]
    paths = []
    for i, rows in enumerate(parts):
        paths.append(tmp_path / f"u{i}.rec")
        _write(paths[-1], rows)
    refs, clks = read_body(paths, 64, chunk_rows=7)  # several chunks per file
    every = np.concatenate(parts)
    assert np.array_equal(refs, every[:, :16]) and np.array_equal(clks, every[:, 16:])
    assert refs.flags.c_contiguous and clks.flags.c_contiguous
    one_refs, one_clks = read_records(paths[0], 64)
    assert np.array_equal(one_refs, parts[0][:, :16]) and np.array_equal(one_clks, parts[0][:, 16:])


def test_read_body_refuses_a_file_cut_mid_record(tmp_path: Path) -> None:
    path = tmp_path / "cut.rec"
    path.write_bytes(bytes(16 + 8 + 5))
    with pytest.raises(ValueError, match=r"cut\.rec"):
        read_body([path], 64)


rows16 = st.lists(st.binary(min_size=16, max_size=16), max_size=30)


def _array(values: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, 16)


@settings(max_examples=100, deadline=None)
@given(rows16, rows16, st.booleans())
def test_match_unique_and_order_rows_agree_with_python(
    table: list[bytes], query: list[bytes], same_head: bool
) -> None:
    if same_head:  # rows that share their first 8 bytes take the two-key sort
        table = [b"\x01" * 8 + t[8:] for t in table]
        query = [b"\x01" * 8 + q[8:] for q in query]
    query = query + table[:3]
    first: dict[bytes, int] = {}
    for i, t in enumerate(table):
        first.setdefault(t, i)
    found = match_rows(_array(query), _array(table))
    assert found.tolist() == [first.get(q, -1) for q in query]
    distinct, inverse = unique_rows(_array(table))
    assert [r.tobytes() for r in distinct] == sorted(set(table))
    assert [distinct[i].tobytes() for i in inverse] == table
    order = row_order(_array(table)).tolist()
    assert order == sorted(range(len(table)), key=lambda i: table[i])  # stable
