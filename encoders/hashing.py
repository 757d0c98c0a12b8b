"""CLK hashing through clkhash, keys derived once per run.

The output is byte-identical to ``clkhash.clk.generate_clks`` on the same normalised
values, schema and secret: we call clkhash's own Bloom-filter code, only without its
per-call key derivation and CSV plumbing, so chunks can be hashed in worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from clkhash import schema as clk_schema
from clkhash.bloomfilter import stream_bloom_filters
from clkhash.key_derivation import generate_key_lists

from linkage.schema import LinkageSchema


class ClkHasher:
    """Hashes rows of normalised field values into CLK bytes.

    Args:
        schema: the linkage schema; rows must follow ``schema.field_names`` order.
        secret: the linkage secret (bytes).
    """

    def __init__(self, schema: LinkageSchema, secret: bytes) -> None:
        self.schema = schema
        self._clk_schema = clk_schema.from_json_dict(schema.clkhash_document())
        self._keys = generate_key_lists(
            secret,
            len(self._clk_schema.fields),
            key_size=self._clk_schema.kdf_key_size,
            salt=self._clk_schema.kdf_salt,
            info=self._clk_schema.kdf_info,
            kdf=self._clk_schema.kdf_type,
            hash_algo=self._clk_schema.kdf_hash,
        )
        self.nbytes = schema.bit_length // 8

    def hash_rows(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        """Return ``(len(rows), bit_length/8)`` uint8 CLK bytes for ``rows``."""
        out = np.empty((len(rows), self.nbytes), dtype=np.uint8)
        for i, (bloom, _, _) in enumerate(stream_bloom_filters(rows, self._keys, self._clk_schema)):
            out[i] = np.frombuffer(bloom.tobytes(), dtype=np.uint8)
        return out
