from __future__ import annotations

import numpy as np
import pytest
from bitarray import bitarray
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from linkage.errors import LinkageError
from linkage.packed import from_bitarrays, pack


@given(arrays(np.uint8, st.tuples(st.integers(0, 20), st.sampled_from([8, 16, 128]))))
def test_round_trips_and_popcounts(rows: np.ndarray) -> None:
    packed = pack(rows)
    assert packed.words.dtype == np.uint64 and packed.words.flags.c_contiguous
    assert packed.words.shape == (rows.shape[0], rows.shape[1] // 8)
    assert np.array_equal(packed.to_bytes(), rows)
    expected = np.unpackbits(rows, axis=1).sum(axis=1)
    assert np.array_equal(packed.popcounts, expected)
    if len(rows):
        bas = packed.to_bitarrays()
        assert [b.tobytes() for b in bas] == [r.tobytes() for r in rows]
        assert np.array_equal(from_bitarrays(bas).words, packed.words)


def test_little_endian_bitarrays_are_read_in_clkhash_order() -> None:
    big = bitarray("1" + "0" * 63, endian="big")
    little = bitarray(big, endian="little")
    assert np.array_equal(from_bitarrays([little]).to_bytes(), from_bitarrays([big]).to_bytes())
    assert from_bitarrays([big]).to_bytes()[0, 0] == 0x80


def test_take_keeps_rows() -> None:
    rows = np.arange(48, dtype=np.uint8).reshape(3, 16)
    assert np.array_equal(pack(rows).take(np.array([2, 0])).to_bytes(), rows[[2, 0]])


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 12), np.uint8), np.zeros((2, 16), np.int8), np.zeros(16, np.uint8)]
)
def test_bad_rows_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(LinkageError):
        pack(bad)


def test_bitarrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(LinkageError, match="differ"):
        from_bitarrays([bitarray("0" * 64), bitarray("0" * 128)])
