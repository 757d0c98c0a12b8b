"""Encodings storage: each upload's records in one file, its metadata in the database.

A stored upload file holds the raw records of the binary container without header or
trailer: ``count`` rows of ``16 + bit_length/8`` bytes (ref, then CLK). Reading a body's
data for a run is one ``numpy.fromfile`` per upload.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linkage.container import (
    MAGIC,
    REF_BYTES,
    decode_encodings,
    iter_binary_records,
    parse_binary_header,
)
from linkage.errors import EncodingsFormatError
from server.core.files import open_private
from server.core.problems import Problem


@dataclass(frozen=True)
class Ingested:
    """An upload parsed and written to a temporary records file.

    Attributes:
        tmp_path: the records file (rows of ref + CLK), to be renamed into place.
        refs: the ``count`` refs in file order, as ``(count, 16)`` uint8 array.
        count: number of records.
        bit_length: CLK length in bits.
        schema_id: schema id the file declares (None if undeclared).
    """

    tmp_path: Path
    refs: np.ndarray
    count: int
    bit_length: int
    schema_id: str | None


def _check_against_project(schema_id: str | None, bit_length: int, project: dict) -> None:
    if schema_id is None:
        raise Problem(
            422,
            "Schema id missing",
            f"the encodings file declares no schema id; this project uses {project['schema_id']}",
            "schema-mismatch",
        )
    if schema_id != project["schema_id"]:
        raise Problem(
            409,
            "Schema mismatch",
            f"the encodings file declares schema {schema_id} but the project uses "
            f"{project['schema_id']}",
            "schema-mismatch",
        )
    if bit_length != project["bit_length"]:
        raise Problem(
            422,
            "Bit length mismatch",
            f"the encodings are {bit_length} bits but the project schema uses "
            f"{project['bit_length']} bits",
            "bit-length-mismatch",
        )


def _bad_file(exc: EncodingsFormatError) -> Problem:
    return Problem(422, "Invalid encodings file", str(exc), "invalid-encodings")


def ingest(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    """Parse the received file ``raw_path`` and write its records to ``out_path``.

    Binary files are streamed chunk by chunk; JSON files are decoded whole (they are
    bounded by the upload size limit). ``project`` has ``schema_id`` and ``bit_length``.

    Raises:
        Problem: 409/422 for a mismatched schema or bit length, a malformed, truncated or
            altered file, or duplicate refs within the file.
    """
    with raw_path.open("rb") as handle:
        head = handle.read(len(MAGIC))
    try:
        if head == MAGIC:
            return _ingest_binary(raw_path, out_path, project)
        return _ingest_json(raw_path, out_path, project)
    except EncodingsFormatError as exc:
        out_path.unlink(missing_ok=True)
        raise _bad_file(exc) from exc
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


def _ingest_binary(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    ref_chunks: list[np.ndarray] = []
    count = 0
    header = None
    with raw_path.open("rb") as src, open_private(out_path) as dst:
        for header, refs, clks in iter_binary_records(src):
            if count == 0:
                _check_against_project(header.schema_id, header.bit_length, project)
            rows = np.empty((len(refs), REF_BYTES + clks.shape[1]), dtype=np.uint8)
            rows[:, :REF_BYTES] = np.frombuffer(
                bytes.fromhex("".join(refs)), dtype=np.uint8
            ).reshape(-1, REF_BYTES)
            rows[:, REF_BYTES:] = clks
            dst.write(rows.tobytes())
            ref_chunks.append(rows[:, :REF_BYTES].copy())
            count += len(refs)
        dst.flush()
        os.fsync(dst.fileno())
    if header is None:
        # No records at all: read the header alone to report it.
        with raw_path.open("rb") as src:
            parsed = parse_binary_header(src.read(65536 + 12))
        if parsed is None:
            raise EncodingsFormatError("encodings file is truncated (header incomplete)")
        _check_against_project(parsed.schema_id, parsed.bit_length, project)
        raise Problem(422, "Empty upload", "the encodings file holds no records", "empty-upload")
    refs_all = np.concatenate(ref_chunks) if ref_chunks else np.empty((0, REF_BYTES), np.uint8)
    return Ingested(out_path, refs_all, count, header.bit_length, header.schema_id)


def _ingest_json(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    encodings = decode_encodings(raw_path.read_bytes())
    _check_against_project(encodings.schema_id, encodings.bit_length, project)
    if len(encodings) == 0:
        raise Problem(422, "Empty upload", "the encodings file holds no records", "empty-upload")
    refs = np.frombuffer(bytes.fromhex("".join(encodings.refs)), dtype=np.uint8).reshape(
        -1, REF_BYTES
    )
    rows = np.hstack([refs, encodings.clks])
    with open_private(out_path) as dst:
        dst.write(rows.tobytes())
        dst.flush()
        os.fsync(dst.fileno())
    return Ingested(
        out_path, refs.copy(), len(encodings), encodings.bit_length, encodings.schema_id
    )


def duplicate_refs(refs: np.ndarray, existing: Iterable[np.ndarray]) -> int:
    """How many refs are repeated within ``refs`` or already in ``existing`` (all (n, 16))."""
    parts = [refs, *existing]
    allrefs = np.concatenate(parts) if len(parts) > 1 else refs
    if allrefs.shape[0] == 0:
        return 0
    view = np.ascontiguousarray(allrefs).view(np.dtype((np.void, REF_BYTES))).ravel()
    return int(view.shape[0] - np.unique(view).shape[0])


def read_records(path: Path, bit_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a stored upload: ``(refs (n, 16) uint8, clks (n, bit_length/8) uint8)``."""
    width = REF_BYTES + bit_length // 8
    rows = np.fromfile(path, dtype=np.uint8).reshape(-1, width)
    return rows[:, :REF_BYTES], np.ascontiguousarray(rows[:, REF_BYTES:])


def refs_to_hex(refs: np.ndarray) -> list[str]:
    """``(n, 16)`` uint8 refs to 32-character hex strings."""
    blob = refs.tobytes().hex()
    return [blob[i : i + 2 * REF_BYTES] for i in range(0, len(blob), 2 * REF_BYTES)]


async def receive_to_file(
    chunks: AsyncIterator[bytes], path: Path, *, limit: int
) -> tuple[str, int]:
    """Write an async byte-chunk iterator to ``path``; return ``(sha256 hex, size)``.

    Raises:
        Problem: 413 as soon as more than ``limit`` bytes arrive.
    """
    digest = hashlib.sha256()
    size = 0
    with open_private(path) as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise Problem(
                    413,
                    "Upload too large",
                    f"the upload exceeds the limit of {limit} bytes",
                    "upload-too-large",
                )
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest(), size
