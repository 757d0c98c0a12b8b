"""Bloom-filter hardening: transforms applied to CLKs after they are formed.

Every function takes and returns CLKs as a ``(n, nbytes)`` uint8 array in clkhash's bit
order (bit position ``p`` is bit ``7 - p % 8`` of byte ``p // 8``, most significant
first), works on all rows at once, and has no side effects. The encoder applies the
steps a schema's ``kakehashi.hardening`` block declares, always in the order of
:data:`ORDER`:

``salt``     record-level salting: a key input taken from a stable field (e.g. birth
             year) is prepended to every token of the salted fields, so those fields'
             bits only agree between records with the same salt (done while hashing;
             :func:`record_salts` derives the salts).
``xor_fold`` XOR-folding (Schnell, Borgs & Encarnação 2016): the two halves are XORed,
             ``folds`` times; the same bytes as clkhash's ``xor_folds``.
``balance``  balanced Bloom filters (Berger/Schnell–Borgs): the filter is concatenated
             with its complement and the result permuted with a keyed permutation, so
             every encoding has exactly half its bits set (no popcount leakage).
``permute``  a keyed permutation of the bit positions.
``rule90``   the elementary cellular automaton rule 90 (Schnell & Borgs 2018): bit ``i``
             becomes ``b[i-1] XOR b[i+1]`` (cyclic); after ``permute`` its neighbours are
             secret, which makes it a keyed diffusion layer.
``diffuse``  the diffusion layer of Armknecht et al. (2023): output bit ``j`` is the XOR
             of ``taps`` input bits chosen by a keyed map.
``noise``    random-bit noise: exactly ``bits`` distinct random positions of every
             encoding are flipped, so two encodings of the same CLK coincide only with
             probability ``1 / C(length, bits)`` (no byte-identical encodings across bodies).
``blip``     BLIP (Schnell & Borgs 2016), randomised response per bit: each bit is flipped
             independently with probability ``p = 1 / (1 + e**ε)`` (ε-differential privacy
             per bit position). The only randomised step: it makes the encodings of the
             same person in two bodies differ.

Keys are derived by the caller (the encoder, from the linkage secret); a function here
only needs its bytes.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Sequence

import numpy as np

ORDER = ("salt", "xor_fold", "balance", "permute", "rule90", "diffuse", "noise", "blip")
"""The order in which the steps of a hardening block are applied."""


def _bits(clks: np.ndarray) -> np.ndarray:
    """``(n, nbytes)`` uint8 → ``(n, 8·nbytes)`` uint8 of 0/1, clkhash bit order."""
    return np.unpackbits(np.ascontiguousarray(clks, dtype=np.uint8), axis=1)


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1)


def keyed_permutation(key: bytes, length: int) -> np.ndarray:
    """A permutation of ``range(length)`` derived from ``key`` alone.

    Positions are sorted by ``HMAC-SHA256(key, position)``: stable across library versions
    (no dependence on a PRNG's stream), and unpredictable without the key.

    Returns:
        ``(length,)`` int64, ``perm[j]`` = the input position that goes to output ``j``.
    """
    tags = [hmac.digest(key, p.to_bytes(4, "big"), "sha256") for p in range(length)]
    return np.asarray(sorted(range(length), key=tags.__getitem__), dtype=np.int64)


def keyed_taps(key: bytes, length: int, taps: int) -> np.ndarray:
    """``(length, taps)`` int64 input positions for :func:`diffuse`, derived from ``key``.

    Row ``j`` holds ``taps`` distinct positions, drawn from an HMAC-SHA256 counter stream.
    """
    if not 1 <= taps <= length:
        raise ValueError(f"taps must be in [1, {length}], not {taps}")
    out = np.empty((length, taps), dtype=np.int64)
    for j in range(length):
        chosen: list[int] = []
        counter = 0
        while len(chosen) < taps:
            block = hmac.digest(key, j.to_bytes(4, "big") + counter.to_bytes(4, "big"), "sha256")
            counter += 1
            for i in range(0, len(block), 4):
                p = int.from_bytes(block[i : i + 4], "big") % length
                if p not in chosen:
                    chosen.append(p)
                if len(chosen) == taps:
                    break
        out[j] = chosen
    return out


def record_salts(values: Sequence[str], chars: int) -> list[str]:
    """The salt of each record: the first ``chars`` characters of its salt-field value.

    ``(n,)`` values → ``(n,)`` salts; a missing value ("") gives the empty salt.
    """
    return [v[:chars] for v in values]


def xor_fold(clks: np.ndarray, folds: int) -> np.ndarray:
    """XOR-fold ``folds`` times: ``(n, B)`` → ``(n, B / 2**folds)`` uint8.

    Each fold XORs the first half of the filter with the second, as clkhash's ``fold_xor``
    does (same bytes).
    """
    if folds < 0:
        raise ValueError("folds must be >= 0")
    out = np.ascontiguousarray(clks, dtype=np.uint8)
    for _ in range(folds):
        half = out.shape[1] // 2
        if out.shape[1] % 2:
            raise ValueError(f"{out.shape[1] * 8} bits cannot be folded in half")
        out = out[:, :half] ^ out[:, half:]
    return out


def balance(clks: np.ndarray, key: bytes) -> np.ndarray:
    """Balanced Bloom filter: ``(n, B)`` → ``(n, 2B)`` uint8 with exactly ``8B`` bits set.

    The filter followed by its complement, bit positions then permuted by
    :func:`keyed_permutation` of ``key``.
    """
    bits = _bits(clks)
    both = np.concatenate([bits, 1 - bits], axis=1)
    return _pack(both[:, keyed_permutation(key, both.shape[1])])


def permute(clks: np.ndarray, key: bytes) -> np.ndarray:
    """Keyed permutation of the bit positions: ``(n, B)`` → ``(n, B)`` uint8."""
    bits = _bits(clks)
    return _pack(bits[:, keyed_permutation(key, bits.shape[1])])


def rule90(clks: np.ndarray) -> np.ndarray:
    """One step of rule 90 on the cyclic bit string: ``(n, B)`` → ``(n, B)`` uint8.

    ``out[i] = b[i - 1] XOR b[i + 1]`` (indices modulo the length).
    """
    bits = _bits(clks)
    return _pack(np.roll(bits, 1, axis=1) ^ np.roll(bits, -1, axis=1))


def diffuse(clks: np.ndarray, key: bytes, taps: int) -> np.ndarray:
    """Armknecht-style diffusion layer: ``(n, B)`` → ``(n, B)`` uint8.

    Output bit ``j`` is the XOR of the input bits at ``keyed_taps(key, 8B, taps)[j]``.
    """
    bits = _bits(clks)
    index = keyed_taps(key, bits.shape[1], taps)
    out = np.zeros_like(bits)
    for t in range(taps):
        out ^= bits[:, index[:, t]]
    return _pack(out)


def noise(clks: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Flip exactly ``bits`` distinct random positions of every row: ``(n, B)`` → ``(n, B)``."""
    b = _bits(clks)
    n, length = b.shape
    if not 0 <= bits <= length:
        raise ValueError(f"bits must be in [0, {length}], not {bits}")
    # the ``bits`` smallest of ``length`` uniform keys per row: a uniform random subset
    picks = np.argpartition(rng.random((n, length)), bits, axis=1)[:, :bits] if bits else None
    if picks is not None:
        rows = np.repeat(np.arange(n), bits)
        b[rows, picks.ravel()] ^= 1
    return _pack(b)


def blip_probability(epsilon: float) -> float:
    """Flip probability of BLIP at per-bit privacy ``epsilon``: ``1 / (1 + e**ε)``."""
    if not epsilon > 0 or math.isinf(epsilon):
        raise ValueError("epsilon must be a positive finite number")
    return 1.0 / (1.0 + math.exp(epsilon))


def blip(clks: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """BLIP: flip every bit independently with probability ``1 / (1 + e**ε)``.

    ``(n, B)`` → ``(n, B)`` uint8. ``rng`` must be unpredictable to anyone but the
    encoding body (the encoder seeds it from the operating system).
    """
    bits = _bits(clks)
    flips = rng.random(bits.shape) < blip_probability(epsilon)
    return _pack(bits ^ flips.astype(np.uint8))


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one hardening step, derived from the linkage secret."""
    return hmac.digest(secret, b"kakehashi-hardening/" + purpose.encode("ascii"), "sha256")


def output_bits(clk_bits: int, steps: dict[str, object]) -> int:
    """Length in bits of a hardened encoding whose CLK has ``clk_bits`` bits."""
    bits = clk_bits
    folds = steps.get("xor_fold", 0)
    if isinstance(folds, int) and not isinstance(folds, bool):
        bits >>= folds
    if steps.get("balance"):
        bits *= 2
    return bits
