"""Random record order for everything the encoder writes for the server.

An export lists its records in the department's own order (by resident number, address,
date of registration, ...). Written in that order, an encodings file would tell the
linkage server which records were neighbours in the register — a side channel the schema
does not need (refs, not positions, carry identity). Every writer of records the server
receives (encodings, signals, family file) therefore puts them in a uniformly random order
drawn from the operating system's random source, never from the linkage secret: the same
export encoded twice comes out in two unrelated orders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def random_order(n: int) -> np.ndarray:
    """A uniformly random permutation of ``range(n)`` (int64) from OS randomness.

    Sorting 64 random bits per record (``os.urandom``) gives every order the same chance
    up to ties, which have probability < n² / 2⁶⁵ and then keep input order.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    keys = np.frombuffer(os.urandom(8 * n), dtype=np.uint64) if n else np.empty(0, np.uint64)
    return np.argsort(keys, kind="stable").astype(np.int64)


def shuffled(items: Sequence[T]) -> list[T]:
    """``items`` in a random order (see :func:`random_order`)."""
    return [items[i] for i in random_order(len(items)).tolist()]
