"""Encodings uploads: streamed to disk, checked, stored whole or not at all."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from server.api import API_PREFIX
from server.api.deps import Body, FactoryDep, Principal, SettingsDep, audit_note, project_for
from server.core import audit
from server.core.config import Settings
from server.core.problems import Problem
from server.core.security import new_id
from server.db.models import Upload
from server.storage import (
    Ingested,
    check_fingerprint_against,
    duplicate_refs,
    ingest,
    read_records,
    receive_to_file,
)

router = APIRouter(prefix=API_PREFIX, tags=["uploads"])
_log = logging.getLogger("kakehashi.server.uploads")


@router.post(
    "/projects/{pid}/uploads",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
            "required": True,
        }
    },
)
async def upload_encodings(
    pid: str,
    request: Request,
    principal: Body,
    factory: FactoryDep,
    settings: SettingsDep,
    mode: Literal["replace", "append"] = Query(
        description="replace: this upload replaces the body's earlier ones; append: adds to them"
    ),
) -> dict[str, Any]:
    """Upload the calling body's encodings file (binary ``.kkh`` or clkhash JSON with refs)."""
    # Database work runs in the thread pool, never on the event loop: a SQLite session takes
    # the write lock (BEGIN IMMEDIATE) and may wait for it, and a request that holds it
    # releases it only after its response is sent, which needs the event loop.
    info = await run_in_threadpool(_project_info, factory, principal, pid, mode)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise Problem(
            413,
            "Upload too large",
            f"the upload exceeds the limit of {settings.max_upload_bytes} bytes",
            "upload-too-large",
        )
    tmp_dir = settings.uploads_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    upload_id = new_id()
    raw = tmp_dir / f"{upload_id}.raw"
    records = tmp_dir / f"{upload_id}.rec"
    final = settings.uploads_dir / f"{upload_id}.rec"
    stored = False
    try:
        try:
            sha, size = await receive_to_file(
                request.stream(), raw, limit=settings.max_upload_bytes
            )
        except ClientDisconnect as exc:
            raise Problem(400, "Upload interrupted", "the client disconnected") from exc
        expected = request.headers.get("x-content-sha256")
        if expected and expected.strip().lower() != sha:
            raise Problem(
                422,
                "Checksum mismatch",
                f"X-Content-SHA256 says {expected.strip().lower()} but the body hashes to {sha}",
                "checksum-mismatch",
            )
        audit_note(request, upload_sha256=sha, upload_bytes=size, mode=mode)
        mine = await run_in_threadpool(_body_uploads, factory, pid, principal.body)
        same = _unchanged(mine, sha, mode)
        if same is not None:
            return {"upload_id": same.id, "count": same.count, "sha256": sha, "duplicate": True}
        parsed = await run_in_threadpool(ingest, raw, records, info)
        raw.unlink(missing_ok=True)
        result, old_files = await run_in_threadpool(
            _commit,
            factory,
            settings,
            principal,
            pid,
            upload_id,
            sha,
            mode,
            parsed,
            records,
            final,
        )
        stored = True
        for path in old_files:
            path.unlink(missing_ok=True)
        _log.info(
            "upload stored", extra={"upload": upload_id, "project": pid, "records": parsed.count}
        )
        return result
    finally:
        raw.unlink(missing_ok=True)
        records.unlink(missing_ok=True)
        if not stored:
            final.unlink(missing_ok=True)


def _project_info(
    factory: sessionmaker[Session], principal: Principal, pid: str, mode: str
) -> dict[str, Any]:
    with factory() as session:
        project = project_for(session, principal, pid)
        if project.status != "open":
            raise Problem(409, "Project closed", "the project is closed to uploads", "closed")
        return {
            "schema_id": project.schema_id,
            "bit_length": project.bit_length,
            "fingerprints": _fingerprints(session, pid, principal.body, mode),
        }


def _body_uploads(factory: sessionmaker[Session], pid: str, body: str | None) -> list[Upload]:
    with factory() as session:
        return list(
            session.execute(
                select(Upload).where(Upload.project_id == pid, Upload.body == body)
            ).scalars()
        )


def _fingerprints(session: Session, pid: str, body: str | None, mode: str) -> dict[str, str]:
    """Secret fingerprints of the project's current uploads that this upload must match:
    other bodies' uploads, and the body's own unless ``mode`` replaces them."""
    stmt = select(Upload.secret_fingerprint, Upload.body).where(
        Upload.project_id == pid, Upload.secret_fingerprint.is_not(None)
    )
    if mode == "replace":
        stmt = stmt.where(Upload.body != body)
    found: dict[str, str] = {}
    for fingerprint, owner in session.execute(stmt.order_by(Upload.created_at)):
        found.setdefault(fingerprint, owner)
    return found


def _unchanged(mine: list[Upload], sha: str, mode: str) -> Upload | None:
    """The body's stored upload this one would leave unchanged, if any.

    Appending a file already stored changes nothing; replacing changes nothing only when
    that file is the body's only upload (A, append B, replace with A must leave A alone).
    """
    same = next((u for u in mine if u.sha256 == sha), None)
    if same is None or (mode == "replace" and len(mine) != 1):
        return None
    return same


def _commit(
    factory: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    pid: str,
    upload_id: str,
    sha: str,
    mode: str,
    parsed: Ingested,
    records: Path,
    final: Path,
) -> tuple[dict[str, Any], list[Path]]:
    """Check refs against the body's earlier uploads and store the upload in one transaction.

    The records file is renamed into place inside the transaction; the caller removes it
    again if the commit fails, and deletes replaced uploads' files after it succeeds.
    """
    with factory() as session, session.begin():
        project = project_for(session, principal, pid, lock=True)
        if project.status != "open":
            raise Problem(409, "Project closed", "the project is closed to uploads", "closed")
        mine = list(
            session.execute(
                select(Upload).where(Upload.project_id == pid, Upload.body == principal.body)
            ).scalars()
        )
        same = _unchanged(mine, sha, mode)
        if same is not None:
            return {"upload_id": same.id, "count": same.count, "sha256": sha, "duplicate": True}, []
        # Again under the project lock: another body may have stored an upload meanwhile.
        check_fingerprint_against(
            parsed.secret_fingerprint, _fingerprints(session, pid, principal.body, mode)
        )
        existing = (
            [read_records(settings.uploads_dir / u.file_name, u.bit_length)[0] for u in mine]
            if mode == "append"
            else []
        )
        dups = duplicate_refs(parsed.refs, existing)
        if dups:
            raise Problem(
                409 if existing else 422,
                "Duplicate refs",
                f"{dups} ref(s) appear more than once"
                + (" (in this file or in the body's earlier uploads)" if existing else ""),
                "duplicate-refs",
            )
        old_files: list[Path] = []
        if mode == "replace":
            for u in mine:
                old_files.append(settings.uploads_dir / u.file_name)
                session.delete(u)
        session.add(
            Upload(
                id=upload_id,
                project_id=pid,
                body=principal.body,
                sha256=sha,
                count=parsed.count,
                bit_length=parsed.bit_length,
                mode=mode,
                file_name=final.name,
                secret_fingerprint=parsed.secret_fingerprint,
            )
        )
        audit.append(
            session,
            actor=principal.actor,
            action="upload.stored",
            project_id=pid,
            detail={
                "upload": upload_id,
                "records": parsed.count,
                "sha256": sha,
                "mode": mode,
                "replaced": len(old_files),
                "secret_fingerprint": parsed.secret_fingerprint,
            },
        )
        session.flush()
        records.replace(final)
    return {
        "upload_id": upload_id,
        "count": parsed.count,
        "sha256": sha,
        "duplicate": False,
    }, old_files
