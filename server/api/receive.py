"""Receiving an upload's body, shared by the upload routes.

``receive_request``: the declared length against the route's cap, the body streamed with
the same cap (to a file or into memory), a client that disconnects mid-upload, and the
``X-Content-SHA256`` end-to-end check. Used by encodings (project and cross-link),
signals and family uploads, each with its own cap.

``receive_encodings``: the whole sequence of an encodings upload, the same for a project
and a cross-link — receive the file, parse and check it against the project or cross-link
(``storage.ingest``), store its row through the route's own ``commit`` (its table, its
audit entry; the records file is renamed into place inside that transaction), and unlink
the replaced files after the commit. Temporary files are removed whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from server.api.deps import audit_note
from server.core.config import Settings
from server.core.problems import Problem
from server.core.security import new_id
from server.storage import Ingested, ingest, receive_to_file, receive_to_memory, too_large


@dataclass(frozen=True)
class Received:
    """A received request body: its SHA-256, its size, and its bytes if read into memory."""

    sha256: str
    size: int
    data: bytes | None = None


async def receive_request(
    request: Request, limit: int, *, to: Path | None = None, verify_checksum: bool = True
) -> Received:
    """Receive ``request``'s body, at most ``limit`` bytes, to the file ``to`` or into memory.

    Raises:
        Problem: 413 when the declared ``Content-Length`` or the bytes received exceed
            ``limit``; 400 when the client disconnects; 422 when ``verify_checksum`` and an
            ``X-Content-SHA256`` header does not match the body.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    data: bytes | None = None
    try:
        if to is None:
            sha, size, data = await receive_to_memory(request.stream(), limit=limit)
        else:
            sha, size = await receive_to_file(request.stream(), to, limit=limit)
    except ClientDisconnect as exc:
        raise Problem(400, "Upload interrupted", "the client disconnected") from exc
    expected = request.headers.get("x-content-sha256")
    if verify_checksum and expected and expected.strip().lower() != sha:
        raise Problem(
            422,
            "Checksum mismatch",
            f"X-Content-SHA256 says {expected.strip().lower()} but the body hashes to {sha}",
            "checksum-mismatch",
        )
    return Received(sha, size, data)


@dataclass(frozen=True)
class Staged:
    """An encodings upload parsed and ready to commit.

    Attributes:
        upload_id: the new upload's id (its row's primary key and file name).
        sha256: SHA-256 of the file as received.
        parsed: what ``storage.ingest`` read from it.
        records: the temporary records file; ``commit`` renames it to ``final`` inside
            its transaction.
        final: where the records file lives once stored.
    """

    upload_id: str
    sha256: str
    parsed: Ingested
    records: Path
    final: Path


#: A route's commit: store ``Staged`` in one transaction; ``(response, files to unlink)``.
Commit = Callable[[Staged], tuple[dict[str, Any], list[Path]]]


async def receive_encodings(
    request: Request,
    settings: Settings,
    *,
    info: dict[str, Any],
    final_dir: Path,
    note: dict[str, Any],
    commit: Commit,
    unchanged: Callable[[str], dict[str, Any] | None] | None = None,
) -> tuple[dict[str, Any], Staged | None]:
    """Receive, check and store an encodings upload; ``(response, staged)``.

    Args:
        info: what ``storage.ingest`` checks the file against (schema id, bit length,
            secret fingerprints of the other uploads).
        final_dir: the folder the stored records file goes to.
        note: fields for this request's audit entry, besides the upload's SHA-256 and size.
        commit: the route's transaction (runs in the thread pool); its files to unlink
            are unlinked after it returns, i.e. after its commit.
        unchanged: given the received file's SHA-256, the response if storing it would
            change nothing (checked before the file is parsed); then ``staged`` is None.
    """
    tmp_dir = settings.uploads_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    upload_id = new_id()
    raw = tmp_dir / f"{upload_id}.raw"
    records = tmp_dir / f"{upload_id}.rec"
    final = final_dir / f"{upload_id}.rec"
    stored = False
    try:
        got = await receive_request(request, settings.max_upload_bytes, to=raw)
        audit_note(request, upload_sha256=got.sha256, upload_bytes=got.size, **note)
        if unchanged is not None:
            same = await run_in_threadpool(unchanged, got.sha256)
            if same is not None:
                return same, None
        parsed = await run_in_threadpool(ingest, raw, records, info)
        raw.unlink(missing_ok=True)
        staged = Staged(upload_id, got.sha256, parsed, records, final)
        result, old_files = await run_in_threadpool(commit, staged)
        stored = True
        for path in old_files:
            path.unlink(missing_ok=True)
        return result, staged
    finally:
        raw.unlink(missing_ok=True)
        records.unlink(missing_ok=True)
        if not stored:
            final.unlink(missing_ok=True)
