"""Synthetic encodings for the server tests: random CLKs, some shared across bodies."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from linkage.container import Encodings, new_ref, to_json_bytes, write_encodings
from linkage.schema import default_schema

SCHEMA = default_schema()
BITS = SCHEMA.bit_length


def random_clks(rng: np.random.Generator, n: int, bits: int = BITS) -> np.ndarray:
    """``(n, bits/8)`` uint8 CLKs with about a quarter of the bits set."""
    return np.packbits(rng.random((n, bits)) < 0.25, axis=1)


def noisy_copy(rng: np.random.Generator, clks: np.ndarray, flips: int = 10) -> np.ndarray:
    """Copies of ``clks`` (n, bytes) with ``flips`` random bits flipped per row."""
    bits = np.unpackbits(clks, axis=1)
    for row in bits:
        idx = rng.choice(bits.shape[1], size=flips, replace=False)
        row[idx] ^= 1
    return np.packbits(bits, axis=1)


def bodies_data(seed: int, n_shared: int, n_own: int, n_bodies: int = 2) -> list[np.ndarray]:
    """One CLK array per body: ``n_shared`` people appear in every body, ``n_own`` only there."""
    rng = np.random.default_rng(seed)
    shared = random_clks(rng, n_shared)
    out = []
    for _ in range(n_bodies):
        own = random_clks(rng, n_own)
        out.append(np.vstack([noisy_copy(rng, shared), own]))
    return out


#: The secret fingerprint every test body declares unless a test says otherwise.
FINGERPRINT = "7F3A-91C2-0B5D-E844"


def encodings(
    clks: np.ndarray,
    *,
    schema_id: str | None = None,
    refs: list[str] | None = None,
    fingerprint: str | None = FINGERPRINT,
) -> Encodings:
    return Encodings(
        refs=refs or [new_ref() for _ in range(len(clks))],
        clks=clks,
        bit_length=clks.shape[1] * 8,
        schema_id=SCHEMA.schema_id if schema_id is None else schema_id,
        secret_fingerprint=fingerprint,
    )


def binary_bytes(enc: Encodings) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.kkh"
        write_encodings(path, enc, "binary")
        return path.read_bytes()


def json_bytes(enc: Encodings) -> bytes:
    return to_json_bytes(enc)
