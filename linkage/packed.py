"""Packed CLKs: contiguous ``uint64`` rows plus popcounts, the form every engine stage uses.

A CLK of ``bit_length`` bits is stored as ``bit_length / 64`` native ``uint64`` words made
by reinterpreting the container's bytes (big-endian bit order inside each byte, exactly
what clkhash's ``bitarray.tobytes()`` gives). AND and popcount do not depend on the bit
order inside a word, so the words are never byte-swapped; ``to_bytes`` gives back the
identical bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.errors import LinkageError


@dataclass(frozen=True)
class PackedClks:
    """A set of CLKs packed for comparison.

    Attributes:
        words: ``(n, bit_length // 64)`` C-contiguous ``uint64`` array.
        popcounts: ``(n,)`` ``int32`` array, number of set bits of each CLK.
        bit_length: CLK length in bits (a positive multiple of 64).
    """

    words: np.ndarray
    popcounts: np.ndarray
    bit_length: int

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @property
    def n_words(self) -> int:
        """Number of 64-bit words per CLK."""
        return int(self.words.shape[1])

    def take(self, index: np.ndarray) -> PackedClks:
        """The CLKs at ``index`` (``(m,)`` int array), as a new contiguous ``PackedClks``."""
        return PackedClks(
            np.ascontiguousarray(self.words[index]),
            np.ascontiguousarray(self.popcounts[index]),
            self.bit_length,
        )

    def to_bytes(self) -> np.ndarray:
        """The container form: ``(n, bit_length // 8)`` ``uint8`` array."""
        return self.words.view(np.uint8).reshape(len(self), self.bit_length // 8).copy()

    def to_bitarrays(self) -> list:
        """clkhash form: one big-endian ``bitarray`` of ``bit_length`` bits per CLK."""
        from bitarray import bitarray

        out = []
        for row in self.to_bytes():
            ba = bitarray(endian="big")
            ba.frombytes(row.tobytes())
            out.append(ba)
        return out


def pack(rows: np.ndarray) -> PackedClks:
    """Pack container rows.

    Args:
        rows: ``(n, nbytes)`` ``uint8`` array; ``nbytes`` must be a positive multiple of 8.

    Raises:
        LinkageError: if the array has the wrong dtype, rank or width.
    """
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 or rows.ndim != 2:
        raise LinkageError("CLKs must be a 2-D uint8 array of shape (n, bit_length/8)")
    n, nbytes = rows.shape
    if nbytes == 0 or nbytes % 8:
        raise LinkageError(f"CLK length {nbytes * 8} bits is not a positive multiple of 64")
    words = np.ascontiguousarray(rows).view(np.uint64).reshape(n, nbytes // 8).copy()
    popcounts = np.bitwise_count(words).sum(axis=1, dtype=np.int32)
    return PackedClks(words, popcounts, nbytes * 8)


def from_bitarrays(clks: Sequence) -> PackedClks:
    """Pack clkhash CLKs (a sequence of equal-length ``bitarray`` objects).

    Raises:
        LinkageError: if the bitarrays differ in length or the sequence is empty.
    """
    if len(clks) == 0:
        raise LinkageError("no CLKs given")
    lengths = {len(c) for c in clks}
    if len(lengths) != 1:
        raise LinkageError(f"CLK lengths differ: {sorted(lengths)} bits")
    bits = lengths.pop()
    if bits % 64:
        raise LinkageError(f"CLK length {bits} bits is not a multiple of 64")
    buf = b"".join(_big_endian_bytes(c) for c in clks)
    rows = np.frombuffer(buf, dtype=np.uint8).reshape(len(clks), bits // 8)
    return pack(rows)


def _big_endian_bytes(clk) -> bytes:
    """The bytes of a ``bitarray`` in clkhash's big-endian bit order."""
    from bitarray import bitarray

    if clk.endian == "big":
        return clk.tobytes()
    return bitarray(clk, endian="big").tobytes()
