"""Encodings storage: each upload's records in one file, its metadata in the database.

A stored upload file holds the raw records of the binary container without header or
trailer: ``count`` rows of ``16 + bit_length/8`` bytes (ref, then CLK). Reading a body's
data for a run is one ``numpy.fromfile`` per upload.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage.container import (
    MAGIC,
    MAX_HEADER,
    REF_BYTES,
    BinaryHeader,
    iter_binary_records,
    parse_binary_header,
)
from linkage.errors import EncodingsFormatError
from server.core.files import open_private, private_dir
from server.core.problems import Problem
from server.db.models import Run, Upload
from server.json_upload import read_json_upload


@dataclass(frozen=True)
class Ingested:
    """An upload parsed and written to a temporary records file.

    Attributes:
        tmp_path: the records file (rows of ref + CLK), to be renamed into place.
        refs: the ``count`` refs in file order, as ``(count, 16)`` uint8 array.
        count: number of records.
        bit_length: CLK length in bits.
        schema_id: schema id the file declares (None if undeclared).
        secret_fingerprint: fingerprint of the linkage secret the file declares.
    """

    tmp_path: Path
    refs: np.ndarray
    count: int
    bit_length: int
    schema_id: str | None
    secret_fingerprint: str


def check_fingerprint_against(fingerprint: str | None, others: dict[str, str]) -> str:
    """Refuse a file without a secret fingerprint (422), or with another one than the
    project's other uploads (409, naming both). ``others`` maps fingerprint → a body using it.
    """
    if fingerprint is None:
        raise Problem(
            422,
            "Secret fingerprint missing",
            "the encodings file declares no secret_fingerprint: encode it again with "
            "`kakehashi encode` (this version writes the fingerprint of the linkage secret)",
            "fingerprint-missing",
        )
    different = {fp: body for fp, body in others.items() if fp != fingerprint}
    if different:
        fp, body = sorted(different.items())[0]
        raise Problem(
            409,
            "Secret fingerprint mismatch",
            f"this file was encoded with the secret whose fingerprint is {fingerprint}, but "
            f"the project's other uploads (body {body}) use {fp}: the bodies must encode with "
            "the same linkage secret (compare `kakehashi secret fingerprint` by phone)",
            "fingerprint-mismatch",
        )
    return fingerprint


def _check_header_field(key: str, value: object, project: dict) -> None:
    """Check one header field against the project as soon as it is read."""
    if key == "schema_id":
        _check_schema(value, project)  # type: ignore[arg-type]
    elif key == "bit_length" and value != project["bit_length"]:
        raise Problem(
            422,
            "Bit length mismatch",
            f"the encodings are {value} bits but the project schema uses "
            f"{project['bit_length']} bits",
            "bit-length-mismatch",
        )
    elif key == "secret_fingerprint":
        check_fingerprint_against(value, project.get("fingerprints", {}))  # type: ignore[arg-type]


def _check_schema(schema_id: str | None, project: dict) -> None:
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


def _check_against_project(header: BinaryHeader, project: dict) -> None:
    _check_schema(header.schema_id, project)
    _check_header_field("bit_length", header.bit_length, project)
    _check_header_field("secret_fingerprint", header.secret_fingerprint, project)


def _bad_file(exc: EncodingsFormatError) -> Problem:
    return Problem(422, "Invalid encodings file", str(exc), "invalid-encodings")


def ingest(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    """Parse the received file ``raw_path`` and write its records to ``out_path``.

    Both formats are streamed: the header is checked against the project before any
    record is read (binary always; JSON when, as Kakehashi writes it, the header fields come
    before the lists), records are checked as they arrive and memory stays bounded by a
    chunk (plus the refs, 16 bytes a record). ``project`` has ``schema_id``, ``bit_length``
    and ``fingerprints`` (fingerprint → a body whose current uploads use it).

    Raises:
        Problem: 409/422 for a mismatched schema or bit length, a malformed, truncated or
            altered file, or duplicate refs within the file.
    """
    with raw_path.open("rb") as handle:
        head = handle.read(len(MAGIC))
        first = head.lstrip()[:1] or handle.read(4096).lstrip()[:1]
    try:
        if head == MAGIC:
            return _ingest_binary(raw_path, out_path, project)
        if first != b"{":
            raise EncodingsFormatError(
                "not an encodings file: expected Kakehashi binary (.kkh) or a JSON object"
            )
        return _ingest_json(raw_path, out_path, project)
    except EncodingsFormatError as exc:
        out_path.unlink(missing_ok=True)
        raise _bad_file(exc) from exc
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


def _ingest_binary(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    with raw_path.open("rb") as src:
        parsed = parse_binary_header(src.read(len(MAGIC) + 4 + MAX_HEADER))
    if parsed is None:
        raise EncodingsFormatError("encodings file is truncated (header incomplete)")
    # Header, schema, bit length and secret fingerprint before any record is read.
    _check_against_project(parsed, project)
    ref_chunks: list[np.ndarray] = []
    count = 0
    with raw_path.open("rb") as src, open_private(out_path) as dst:
        for _, refs, clks in iter_binary_records(src):
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
    if count == 0:
        raise Problem(422, "Empty upload", "the encodings file holds no records", "empty-upload")
    refs_all = np.concatenate(ref_chunks)
    fingerprint = check_fingerprint_against(parsed.secret_fingerprint, {})
    return Ingested(out_path, refs_all, count, parsed.bit_length, parsed.schema_id, fingerprint)


def _ingest_json(raw_path: Path, out_path: Path, project: dict) -> Ingested:
    upload = read_json_upload(
        raw_path, out_path, lambda key, value: _check_header_field(key, value, project)
    )
    _check_schema(upload.schema_id, project)
    _check_header_field("bit_length", upload.bit_length, project)
    fingerprint = check_fingerprint_against(
        upload.secret_fingerprint, project.get("fingerprints", {})
    )
    if upload.count == 0:
        raise Problem(422, "Empty upload", "the encodings file holds no records", "empty-upload")
    return Ingested(
        out_path, upload.refs, upload.count, upload.bit_length, upload.schema_id, fingerprint
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
    return read_body([path], bit_length)


#: Rows read from a records file at a time (about 9 MB of 1024-bit records).
_READ_ROWS = 65_536


def read_body(
    paths: Sequence[Path], bit_length: int, *, chunk_rows: int = _READ_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Read several stored uploads into one pair of arrays, in the order given.

    ``(refs (n, 16) uint8, clks (n, bit_length/8) uint8)``, both C-contiguous. The
    arrays are sized from the files and filled a chunk at a time, so reading takes the
    result's memory plus one chunk (no second copy of the records, no concatenation).

    Raises:
        ValueError: if a file's size is not a whole number of records.
    """
    width = REF_BYTES + bit_length // 8
    sizes = [p.stat().st_size for p in paths]
    for path, size in zip(paths, sizes, strict=True):
        if size % width:
            raise ValueError(f"stored upload {path.name} is not a whole number of records")
    n = sum(sizes) // width
    refs = np.empty((n, REF_BYTES), dtype=np.uint8)
    clks = np.empty((n, width - REF_BYTES), dtype=np.uint8)
    buffer = np.empty((chunk_rows, width), dtype=np.uint8)
    at = 0
    for path in paths:
        with path.open("rb", buffering=0) as handle:
            while True:
                got = handle.readinto(memoryview(buffer).cast("B")) or 0
                rows = got // width
                if got % width:  # a short read mid-record: read the rest of it
                    rest = width - got % width
                    tail = handle.read(rest)
                    if len(tail) != rest:
                        raise ValueError(f"stored upload {path.name} ends mid-record")
                    buffer.reshape(-1)[got : got + rest] = np.frombuffer(tail, np.uint8)
                    rows += 1
                if rows == 0:
                    break
                refs[at : at + rows] = buffer[:rows, :REF_BYTES]
                clks[at : at + rows] = buffer[:rows, REF_BYTES:]
                at += rows
    if at != n:
        raise ValueError("a stored upload changed size while it was read")
    return refs, clks


def refs_to_hex(refs: np.ndarray) -> list[str]:
    """``(n, 16)`` uint8 refs to 32-character hex strings."""
    blob = np.ascontiguousarray(refs).tobytes().hex()
    return [blob[i : i + 2 * REF_BYTES] for i in range(0, len(blob), 2 * REF_BYTES)]


def hex_to_rows(values: Sequence[str]) -> np.ndarray:
    """32-character hex strings (refs or tokens) to an ``(n, 16)`` uint8 array."""
    return np.frombuffer(bytes.fromhex("".join(values)), dtype=np.uint8).reshape(-1, REF_BYTES)


def _row_keys(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two big-endian uint64 keys of ``(n, 16)`` rows: sorting by them sorts by bytes."""
    keys = np.ascontiguousarray(rows, dtype=np.uint8).view(">u8").reshape(-1, 2)
    return keys[:, 0], keys[:, 1]


def _sort_rows(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Stable order of rows by ``(hi, lo)``; by ``hi`` alone where that is the same order.

    Sorting one uint64 key is several times faster than ``lexsort`` of two. Random refs
    and tokens differ in their first 8 bytes, so rows with an equal ``hi`` are equal rows
    (then the ``hi`` order is the full order); otherwise both keys are sorted.
    """
    order = np.argsort(hi, kind="stable")
    hs = hi[order]
    tie = np.flatnonzero(hs[1:] == hs[:-1])
    if tie.size and np.any(lo[order[tie]] != lo[order[tie + 1]]):
        return np.lexsort((lo, hi))
    return order


def row_order(rows: np.ndarray) -> np.ndarray:
    """Stable order that sorts ``(n, 16)`` rows by their bytes."""
    return _sort_rows(*_row_keys(rows))


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(n, 16)`` rows sorted by their bytes, and each row's position among them.

    ``numpy.unique`` on 16-byte void rows is an order of magnitude slower than sorting
    uint64 keys, which this does.
    """
    n = len(rows)
    hi, lo = _row_keys(rows)
    order = _sort_rows(hi, lo)
    hs, ls = hi[order], lo[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return np.ascontiguousarray(rows[order[new]]), inverse


def match_rows(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each ``(q, 16)`` query row, the index of an equal ``table`` row, or -1.

    Where ``table`` holds a row more than once, the first one is given.
    """
    m = len(table)
    both = np.concatenate([table, query])
    hi, lo = _row_keys(both)
    order = _sort_rows(hi, lo)  # stable: within equal rows, table rows come first
    hs, ls = hi[order], lo[order]
    start = np.ones(len(both), dtype=bool)
    start[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    run = np.cumsum(start) - 1
    first = order[start]  # table rows come first within a run of equal rows
    owner = np.where(first < m, first, -1)[run]
    found = np.empty(len(query), dtype=np.int64)
    mine = order >= m
    found[order[mine] - m] = owner[mine]
    return found


def too_large(limit: int) -> Problem:
    """The 413 for an upload over ``limit`` bytes (declared or received)."""
    return Problem(
        413,
        "Upload too large",
        f"the upload exceeds the limit of {limit} bytes",
        "upload-too-large",
    )


async def _receive(
    chunks: AsyncIterator[bytes], limit: int, write: Callable[[bytes], object]
) -> tuple[str, int]:
    """Pass each chunk to ``write``; ``(sha256 hex, size)``; 413 once past ``limit``."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        digest.update(chunk)
        write(chunk)
    return digest.hexdigest(), size


async def receive_to_file(
    chunks: AsyncIterator[bytes], path: Path, *, limit: int
) -> tuple[str, int]:
    """Write an async byte-chunk iterator to ``path``; return ``(sha256 hex, size)``.

    Raises:
        Problem: 413 as soon as more than ``limit`` bytes arrive.
    """
    with open_private(path) as handle:
        return await _receive(chunks, limit, handle.write)


async def receive_to_memory(chunks: AsyncIterator[bytes], *, limit: int) -> tuple[str, int, bytes]:
    """Read an async byte-chunk iterator into memory: ``(sha256 hex, size, bytes)``.

    For files that are parsed whole (signals, family files), with a cap of their own.

    Raises:
        Problem: 413 as soon as more than ``limit`` bytes arrive.
    """
    parts: list[bytes] = []
    sha, size = await _receive(chunks, limit, parts.append)
    data = b"".join(parts)
    del parts
    return sha, size, data


# -- run snapshots -------------------------------------------------------------------------
# A run reads the uploads that were current when it was queued, even if a body replaces
# them meanwhile: queueing hard-links every current upload file into
# ``uploads/runs/<run id>/`` with a manifest, inside the transaction that holds the
# project's lock (the same lock an upload's commit takes), so the snapshot is exactly the
# set of uploads of one committed state. Replaced uploads' names are unlinked as before; the
# run's links keep the data until the run has finished and the folder is collected.

SNAPSHOTS = "runs"
_MANIFEST = "manifest.json"


def snapshot_dir(uploads_dir: Path, rid: str) -> Path:
    """The folder holding run ``rid``'s input files and manifest."""
    return uploads_dir / SNAPSHOTS / rid


def take_snapshot(session: Session, uploads_dir: Path, pid: str, rid: str) -> list[dict]:
    """Link the project's current uploads into run ``rid``'s folder; return the manifest.

    Call inside a transaction that holds the project's lock. Entries are in upload order:
    ``{"upload", "body", "file", "count", "created_at"}``.
    """
    folder = snapshot_dir(uploads_dir, rid)
    private_dir(folder.parent)
    private_dir(folder)
    entries: list[dict] = []
    for upload in session.execute(
        select(Upload).where(Upload.project_id == pid).order_by(Upload.created_at, Upload.id)
    ).scalars():
        target = folder / upload.file_name
        if not target.exists():
            try:
                os.link(uploads_dir / upload.file_name, target)
            except OSError:  # a file system without hard links: copy instead
                shutil.copyfile(uploads_dir / upload.file_name, target)
        entries.append(
            {
                "upload": upload.id,
                "body": upload.body,
                "file": upload.file_name,
                "count": upload.count,
                "created_at": upload.created_at.isoformat() if upload.created_at else None,
            }
        )
    tmp = folder / (_MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"run": rid, "uploads": entries}))
    tmp.replace(folder / _MANIFEST)
    return entries


def read_snapshot(uploads_dir: Path, rid: str) -> list[dict] | None:
    """Run ``rid``'s manifest entries, or None if it has no snapshot."""
    path = snapshot_dir(uploads_dir, rid) / _MANIFEST
    if not path.exists():
        return None
    return list(json.loads(path.read_text())["uploads"])


#: A snapshot folder whose run is not (yet) visible is left this long: the run that made it
#: may still be inside its uncommitted transaction (``start_run``); after a crash it is an
#: orphan and goes at the next collection past this age.
ORPHAN_GRACE_SECONDS = 3600.0


def collect_snapshots(session: Session, uploads_dir: Path) -> int:
    """Remove the snapshot folders of runs that have finished (done, failed, cancelled).

    A folder with no visible run is removed only once it is older than
    ``ORPHAN_GRACE_SECONDS``: ``start_run`` links the files before its transaction
    commits, so a run that is being queued right now is not visible yet.
    """
    root = uploads_dir / SNAPSHOTS
    if not root.exists():
        return 0
    folders = [p for p in root.iterdir() if p.is_dir()]
    if not folders:
        return 0
    status = dict(
        session.execute(
            select(Run.id, Run.status).where(Run.id.in_([p.name for p in folders]))
        ).all()
    )
    now = time.time()
    removed = 0
    for folder in folders:
        state = status.get(folder.name)
        if state in ("queued", "running"):
            continue
        if state is None:
            try:
                age = now - folder.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < ORPHAN_GRACE_SECONDS:
                continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed
