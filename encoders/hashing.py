"""CLK hashing, byte-identical to clkhash.

``ClkHasher`` derives the per-field keys once (clkhash's own ``generate_key_lists``) and
tokenises with clkhash's own comparators and strategies. For the double-hashing scheme
(the one Kakehashi's schemas use) it computes each distinct field value's bits once —
HMAC-SHA1/HMAC-MD5 positions with one-shot ``hmac.digest`` calls, exactly clkhash's
``(sha1 + i·md5) mod l`` sequence — and keeps them as a 1024-bit integer mask; a record's
CLK is the OR of its fields' masks. Names, dates and addresses repeat across records, so
most values cost one dictionary lookup instead of clkhash's per-bit Python loop. Any
other scheme (blakeHash, non-singular double hashing, XOR folding) falls back to clkhash's
``crypto_bloom_filter``. Either way the bytes equal ``clkhash.clk.generate_clks`` on the
same values, schema and secret (tests prove it).

A schema's ``kakehashi.hardening`` block (``linkage.hardening``) is applied here: record-
level salting while hashing (fast path only), every other step to the formed CLKs, with
keys derived from the linkage secret. A hardened encoding is no longer a clkhash CLK,
except for plain XOR-folding, which gives clkhash's ``xor_folds`` bytes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from operator import or_
from typing import Any

import numpy as np
from clkhash import schema as clk_schema
from clkhash.bloomfilter import crypto_bloom_filter
from clkhash.comparators import NonComparison
from clkhash.key_derivation import generate_key_lists

from linkage import hardening as hd
from linkage.schema import LinkageSchema

_VALUE_CACHE = 1 << 16  # distinct values per field whose masks are kept (≈ 10 MB/field)
_TOKEN_CACHE = 1 << 17  # distinct (token, insertions) per field whose masks are kept


class _DoubleHashField:
    """Bit masks of one field's values under clkhash's (singular) double hashing.

    A mask is an int whose bit ``l - 1 - p`` is set for every Bloom-filter position ``p``
    the value sets, so that ``mask.to_bytes(l // 8, "big")`` has clkhash's big-endian bit
    order (position 0 is the most significant bit of byte 0).
    """

    def __init__(self, field: Any, comparator: Any, keys: Sequence[bytes], length: int) -> None:
        self._format = field.format_value
        self._tokenize = comparator.tokenize
        self._strategy = field.hashing_properties.strategy
        self._encoding = field.hashing_properties.encoding
        self._key_sha1, self._key_md5 = keys[0], keys[1]
        self._l = length
        self._masks: dict[str, int] = {}
        self._salted: dict[tuple[str, str], int] = {}
        self._tokens: dict[tuple[str, int], int] = {}

    def _token_mask(self, token: str, k: int) -> int:
        """The ``k`` positions ``(sha1 + i * md5) mod l`` of one token, as an int mask."""
        key = (token, k)
        hit = self._tokens.get(key)
        if hit is None:
            data = token.encode(self._encoding)
            length = self._l
            sha1 = int.from_bytes(hmac.digest(self._key_sha1, data, "sha1"), "big") % length
            md5 = int.from_bytes(hmac.digest(self._key_md5, data, "md5"), "big") % length
            top = length - 1
            hit = 0
            for p in {(sha1 + i * md5) % length for i in range(k)}:
                hit |= 1 << (top - p)
            if len(self._tokens) < _TOKEN_CACHE:
                self._tokens[key] = hit
        return hit

    def salted_masks(self, values: Sequence[str], salts: Sequence[str]) -> list[int]:
        """Masks of ``values`` with each token prefixed by its record's salt.

        The salt is a key input: the same value under two salts sets unrelated bits.
        """
        cache = self._salted
        out = []
        for value, salt in zip(values, salts, strict=True):
            key = (salt, value)
            hit = cache.get(key)
            if hit is None:
                tokens = tuple(self._tokenize(self._format(value)))
                hit = 0
                if tokens:
                    ks = self._strategy.bits_per_token(len(tokens))
                    for token, k in zip(tokens, ks, strict=True):
                        hit |= self._token_mask(f"{salt}\x1f{token}", k)
                if len(cache) < _VALUE_CACHE:
                    cache[key] = hit
            out.append(hit)
        return out

    def masks(self, values: Sequence[str]) -> list[int]:
        """:meth:`mask` of every value: known values in one C-speed pass, new ones after."""
        masks = list(map(self._masks.get, values))
        if None in masks:
            mask = self.mask
            for i, hit in enumerate(masks):
                if hit is None:
                    masks[i] = mask(values[i])
        return masks  # type: ignore[return-value]

    def mask(self, value: str) -> int:
        """The bits ``value`` sets in the Bloom filter, as an int mask (0 for no tokens).

        The OR of its tokens' masks: each token's positions depend only on the token and
        on how many insertions the strategy gives it, so both levels are cached.
        """
        hit = self._masks.get(value)
        if hit is not None:
            return hit
        tokens = tuple(self._tokenize(self._format(value)))
        mask = 0
        if tokens:
            known = self._tokens
            ks = self._strategy.bits_per_token(len(tokens))
            for key in zip(tokens, ks, strict=True):
                hit = known.get(key)
                mask |= hit if hit is not None else self._token_mask(*key)
        if len(self._masks) < _VALUE_CACHE:
            self._masks[value] = mask
        return mask


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
        self._clk_nbytes = schema.clk_bit_length // 8
        self._hardening = schema.hardening
        self._hkeys = {
            step: hd.derive_key(secret, f"{schema.schema_id}/{step}")
            for step in ("balance", "permute", "diffuse")
        }
        names = schema.field_names
        salt = self._hardening.get("salt")
        self._salt = (
            (
                names.index(salt["field"]),
                int(salt["chars"]),
                {names.index(f) for f in salt["fields"]},
            )
            if salt
            else None
        )
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
            (i, _DoubleHashField(f, c, k, self._schema.l))
            for i, (f, c, k) in enumerate(
                zip(self._schema.fields, self._comparators, self._keys, strict=True)
            )
            if f.hashing_properties is not None
        ]
        if self._salt is not None and not self._fast:
            raise ValueError(
                "record-level salting needs plain double hashing without xor_folds in clkConfig"
            )

    @property
    def fast_path(self) -> bool:
        """True when the schema uses only clkhash's plain double hashing (our fast path)."""
        return self._fast

    @property
    def hardened(self) -> bool:
        """True when the schema declares hardening steps."""
        return bool(self._hardening)

    def harden(self, clks: np.ndarray) -> np.ndarray:
        """Apply the schema's hardening steps after salting, in ``linkage.hardening.ORDER``.

        ``(n, clk_bit_length/8)`` → ``(n, bit_length/8)`` uint8.
        """
        steps = self._hardening
        if steps.get("xor_fold"):
            clks = hd.xor_fold(clks, int(steps["xor_fold"]))
        if steps.get("balance"):
            clks = hd.balance(clks, self._hkeys["balance"])
        if steps.get("permute"):
            clks = hd.permute(clks, self._hkeys["permute"])
        if steps.get("rule90"):
            clks = hd.rule90(clks)
        if "diffuse" in steps:
            clks = hd.diffuse(clks, self._hkeys["diffuse"], int(steps["diffuse"]["taps"]))
        # fresh OS entropy per call: forked workers never share a noise stream
        if "noise" in steps:
            rng = np.random.default_rng(secrets.randbits(128))
            clks = hd.noise(clks, int(steps["noise"]["bits"]), rng)
        if "blip" in steps:
            rng = np.random.default_rng(secrets.randbits(128))
            clks = hd.blip(clks, float(steps["blip"]["epsilon"]), rng)
        return np.ascontiguousarray(clks, dtype=np.uint8)

    def hash_rows(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        """Return ``(len(rows), bit_length/8)`` uint8 encodings (hardened CLKs) for ``rows``."""
        if not rows:
            return np.zeros((0, self.nbytes), dtype=np.uint8)
        if not self._fast:
            return self.harden(self._clkhash_rows(rows))
        return self.hash_columns([list(column) for column in zip(*rows, strict=True)])

    def _clkhash_rows(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        """clkhash's own ``crypto_bloom_filter`` per row (the slow, general path)."""
        out = np.zeros((len(rows), self._clk_nbytes), dtype=np.uint8)
        for r, row in enumerate(rows):
            bloom, _, _ = crypto_bloom_filter(row, self._comparators, self._schema, self._keys)
            out[r] = np.frombuffer(bloom.tobytes(), dtype=np.uint8)
        return out

    def hash_columns(self, columns: Sequence[Sequence[str]]) -> np.ndarray:
        """CLK bytes of records given as columns: ``columns[j][i]`` is field ``j`` of record ``i``.

        Returns ``(n, bit_length/8)`` uint8, the same bytes as :meth:`hash_rows` on the
        records; a record's CLK is the OR of its fields' masks, taken column by column.
        """
        if len(columns) != len(self._schema.fields):
            raise ValueError(f"{len(columns)} columns for {len(self._schema.fields)} fields")
        n = len(columns[0]) if columns else 0
        if n == 0:
            return np.zeros((0, self.nbytes), dtype=np.uint8)
        if not self._fast:
            return self.harden(self._clkhash_rows(list(zip(*columns, strict=True))))
        salts, salted = None, set()
        if self._salt is not None:
            index, chars, salted = self._salt
            salts = hd.record_salts(columns[index], chars)
        clks = [0] * n
        for i, field in self._fields:
            if i in salted:
                masks = field.salted_masks(columns[i], salts)  # type: ignore[arg-type]
            else:
                masks = field.masks(columns[i])
            clks = list(map(or_, clks, masks))
        nbytes = self._clk_nbytes
        data = b"".join([clk.to_bytes(nbytes, "big") for clk in clks])
        out = np.frombuffer(data, dtype=np.uint8).reshape(n, nbytes).copy()
        return self.harden(out) if self._hardening else out
