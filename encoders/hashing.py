"""CLK hashing, byte-identical to clkhash.

``ClkHasher`` derives the per-field keys once (clkhash's own ``generate_key_lists``) and
tokenises with clkhash's own comparators and strategies. For the double-hashing scheme
(the one Kakehashi's schemas use) it computes the HMAC-SHA1/HMAC-MD5 bit positions with
one-shot ``hmac.digest`` calls, a per-field token cache and numpy bit setting instead of
clkhash's per-bit Python loop; any other scheme (blakeHash, non-singular double hashing,
XOR folding) falls back to clkhash's ``crypto_bloom_filter``. Either way the bytes equal
``clkhash.clk.generate_clks`` on the same values, schema and secret (tests prove it).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import numpy as np
from clkhash import schema as clk_schema
from clkhash.bloomfilter import crypto_bloom_filter
from clkhash.comparators import NonComparison
from clkhash.key_derivation import generate_key_lists

from linkage.schema import LinkageSchema

_CACHE_LIMIT = 1 << 17  # distinct values per field kept in the cache

_Hashed = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


class _DoubleHashField:
    """Bit positions for one field under clkhash's (singular) double hashing."""

    def __init__(self, field: Any, comparator: Any, keys: Sequence[bytes], length: int) -> None:
        self._format = field.format_value
        self._tokenize = comparator.tokenize
        self._strategy = field.hashing_properties.strategy
        self._encoding = field.hashing_properties.encoding
        self._key_sha1, self._key_md5 = keys[0], keys[1]
        self._l = length
        self._cache: dict[str, _Hashed] = {}
        self._token_cache: dict[str, tuple[int, int]] = {}

    def _token(self, token: str) -> tuple[int, int]:
        hit = self._token_cache.get(token)
        if hit is None:
            data = token.encode(self._encoding)
            sha1 = int.from_bytes(hmac.digest(self._key_sha1, data, "sha1"), "big") % self._l
            md5 = int.from_bytes(hmac.digest(self._key_md5, data, "md5"), "big") % self._l
            hit = (sha1, md5)
            if len(self._token_cache) < _CACHE_LIMIT:
                self._token_cache[token] = hit
        return hit

    def tokens(self, value: str) -> _Hashed:
        """``(sha1 positions, md5 steps, insertions)`` for every token of ``value``."""
        hit = self._cache.get(value)
        if hit is not None:
            return hit
        tokens = list(self._tokenize(self._format(value)))
        if tokens:
            ks = self._strategy.bits_per_token(len(tokens))
            pairs = [self._token(t) for t in tokens]
            hit = (tuple(p[0] for p in pairs), tuple(p[1] for p in pairs), tuple(ks))
        else:
            hit = ((), (), ())
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[value] = hit
        return hit


class ClkHasher:
    """Hashes rows of normalised field values into CLK bytes.

    Args:
        schema: the linkage schema; rows must follow ``schema.field_names`` order.
        secret: the linkage secret (bytes).
    """

    def __init__(self, schema: LinkageSchema, secret: bytes) -> None:
        self.schema = schema
        self._schema = clk_schema.from_json_dict(schema.clkhash_document())
        self._keys = generate_key_lists(
            secret,
            len(self._schema.fields),
            key_size=self._schema.kdf_key_size,
            salt=self._schema.kdf_salt,
            info=self._schema.kdf_info,
            kdf=self._schema.kdf_type,
            hash_algo=self._schema.kdf_hash,
        )
        self.nbytes = schema.bit_length // 8
        self._comparators = [
            f.hashing_properties.comparator if f.hashing_properties is not None else NonComparison()
            for f in self._schema.fields
        ]
        self._fast = self._schema.xor_folds == 0 and all(
            f.hashing_properties is None
            or (
                f.hashing_properties.hash_type == "doubleHash"
                and not f.hashing_properties.prevent_singularity
            )
            for f in self._schema.fields
        )
        self._fields = [
            _DoubleHashField(f, c, k, self._schema.l) if f.hashing_properties is not None else None
            for f, c, k in zip(self._schema.fields, self._comparators, self._keys, strict=True)
        ]

    @property
    def fast_path(self) -> bool:
        """True when the schema uses only clkhash's plain double hashing (our fast path)."""
        return self._fast

    def hash_rows(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        """Return ``(len(rows), bit_length/8)`` uint8 CLK bytes for ``rows``."""
        out = np.zeros((len(rows), self.nbytes), dtype=np.uint8)
        if not self._fast:
            for i, row in enumerate(rows):
                bloom, _, _ = crypto_bloom_filter(row, self._comparators, self._schema, self._keys)
                out[i] = np.frombuffer(bloom.tobytes(), dtype=np.uint8)
            return out
        counts = np.zeros(len(rows), dtype=np.int64)
        sha1s: list[int] = []
        md5s: list[int] = []
        ks: list[int] = []
        fields = [(i, f) for i, f in enumerate(self._fields) if f is not None]
        for r, row in enumerate(rows):
            before = len(ks)
            for i, field in fields:
                a, b, k = field.tokens(row[i])
                sha1s.extend(a)
                md5s.extend(b)
                ks.extend(k)
            counts[r] = len(ks) - before
        if not ks:
            return out
        # Token t sets bits (sha1_t + j * md5_t) mod l for j < k_t, exactly as clkhash does.
        k = np.asarray(ks, dtype=np.int64)
        starts = np.cumsum(k) - k
        step = np.arange(int(k.sum()), dtype=np.int64) - np.repeat(starts, k)
        length = self._schema.l
        pos = (
            np.repeat(np.asarray(sha1s, dtype=np.int64), k)
            + step * np.repeat(np.asarray(md5s, dtype=np.int64), k)
        ) % length
        bits = np.zeros((len(rows), length), dtype=np.uint8)
        bits[np.repeat(np.repeat(np.arange(len(rows)), counts), k), pos] = 1
        return np.packbits(bits, axis=1)
