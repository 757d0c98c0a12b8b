"""Encodings uploads: streamed to disk, checked, stored whole or not at all."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from server.api import API_PREFIX
from server.api.deps import Body, FactoryDep, Principal, SettingsDep, audit_note, project_for
from server.api.receive import Staged, receive_encodings
from server.core import audit
from server.core.config import Settings
from server.core.problems import Problem
from server.db.models import Upload
from server.record_edits import held_refs, ref_view, refs_from_hex, remove_refs
from server.signals_store import delete_ref_signals
from server.storage import check_fingerprint_against, duplicate_refs

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
        description="replace: this upload replaces the body's earlier ones; append: adds to "
        "them, and a ref the body already stored replaces that record (a changed record)"
    ),
) -> dict[str, Any]:
    """Upload the calling body's encodings file (binary ``.kkh`` or clkhash JSON with refs)."""
    # Database work runs in the thread pool, never on the event loop: a SQLite session takes
    # the write lock (BEGIN IMMEDIATE) and may wait for it, and a request that holds it
    # releases it only after its response is sent, which needs the event loop.
    info = await run_in_threadpool(_project_info, factory, principal, pid, mode)

    def unchanged(sha: str) -> dict[str, Any] | None:
        same = _unchanged(_body_uploads(factory, pid, principal.body), sha, mode)
        return None if same is None else _duplicate(same, sha)

    result, staged = await receive_encodings(
        request,
        settings,
        info=info,
        final_dir=settings.uploads_dir,
        note={"mode": mode},
        commit=lambda staged: _commit(factory, settings, principal, pid, mode, staged),
        unchanged=unchanged,
    )
    if staged is not None:
        _log.info(
            "upload stored",
            extra={"upload": staged.upload_id, "project": pid, "records": staged.parsed.count},
        )
    return result


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


def _duplicate(same: Upload, sha: str) -> dict[str, Any]:
    return {
        "upload_id": same.id,
        "count": same.count,
        "sha256": sha,
        "duplicate": True,
        "replaced_records": 0,
    }


def _commit(
    factory: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    pid: str,
    mode: str,
    staged: Staged,
) -> tuple[dict[str, Any], list[Path]]:
    """Check refs against the body's earlier uploads and store the upload in one transaction.

    The records file is renamed into place inside the transaction; the caller removes it
    again if the commit fails, and deletes replaced uploads' files after it succeeds.
    """
    upload_id, sha, parsed = staged.upload_id, staged.sha256, staged.parsed
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
            return _duplicate(same, sha), []
        # Again under the project lock: another body may have stored an upload meanwhile.
        check_fingerprint_against(
            parsed.secret_fingerprint, _fingerprints(session, pid, principal.body, mode)
        )
        dups = duplicate_refs(parsed.refs, [])
        if dups:
            raise Problem(
                422,
                "Duplicate refs",
                f"{dups} ref(s) appear more than once in this file",
                "duplicate-refs",
            )
        old_files: list[Path] = []
        replaced_records = signals_deleted = 0
        if mode == "append" and mine:
            # A ref the body already stored is a changed record: the new version replaces
            # the old one (removed from the earlier upload's file), it is not refused.
            replaced_records, old_files = remove_refs(
                session, settings.uploads_dir, mine, ref_view(parsed.refs)
            )
            if replaced_records:
                # The ciphertexts sent for the old versions go with them (minimum data).
                signals_deleted = delete_ref_signals(
                    session, pid, principal.body or "", parsed.refs
                )
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
                file_name=staged.final.name,
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
                "replaced": len(old_files) if mode == "replace" else 0,
                "replaced_records": replaced_records,
                "signals_deleted": signals_deleted,
                "secret_fingerprint": parsed.secret_fingerprint,
            },
        )
        session.flush()
        staged.records.replace(staged.final)
    return {
        "upload_id": upload_id,
        "count": parsed.count,
        "sha256": sha,
        "duplicate": False,
        "replaced_records": replaced_records,
    }, old_files


class DeletionRequest(BaseModel):
    """Refs of the calling body's own records to delete."""

    refs: list[str] = Field(default_factory=list, max_length=1_000_000)


@router.post("/projects/{pid}/uploads/deletions")
def delete_records(
    pid: str,
    request: Request,
    payload: DeletionRequest,
    principal: Body,
    factory: FactoryDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Delete the calling body's own records by ref (all or nothing).

    Every ref must be one of the body's current records; otherwise nothing is deleted and
    the answer is 404 with how many refs were not found (whether another body holds such
    a ref is not said). The next run links without them: their tokens are retired or
    their groups shrink, and merges/splits are recorded as for any change. The signal
    ciphertexts the body sent for these records are deleted in the same transaction.
    """
    with factory() as session:  # membership first: another project's body gets a 404
        project_for(session, principal, pid)
    if not payload.refs:
        raise Problem(422, "No refs", "give at least one ref to delete", "invalid-ref")
    try:
        wanted = refs_from_hex(payload.refs)
    except ValueError as exc:
        raise Problem(422, "Invalid ref", str(exc), "invalid-ref") from exc
    unique = np.unique(ref_view(wanted))
    if unique.size != len(payload.refs):
        raise Problem(
            422,
            "Duplicate refs",
            f"{len(payload.refs) - unique.size} ref(s) appear more than once in the request",
            "duplicate-refs",
        )
    audit_note(request, refs=len(payload.refs))
    with factory() as session, session.begin():
        project = project_for(session, principal, pid, lock=True)
        if project.status != "open":
            raise Problem(409, "Project closed", "the project is closed", "closed")
        mine = list(
            session.execute(
                select(Upload)
                .where(Upload.project_id == pid, Upload.body == principal.body)
                .order_by(Upload.created_at, Upload.id)
            ).scalars()
        )
        held = held_refs(settings.uploads_dir, mine)
        unknown = int(np.count_nonzero(~np.isin(unique, held)))
        if unknown:
            raise Problem(
                404,
                "Refs not found",
                f"{unknown} of the {unique.size} ref(s) are not among this body's current "
                "records; nothing was deleted",
                "refs-not-found",
            )
        removed, old_files = remove_refs(session, settings.uploads_dir, mine, unique)
        # The ciphertexts sent for these records go with them, in this transaction.
        signals_deleted = delete_ref_signals(session, pid, principal.body or "", unique)
        audit.append(
            session,
            actor=principal.actor,
            action="records.deleted",
            project_id=pid,
            detail={
                "records": removed,
                "uploads_changed": len(old_files),
                "signals_deleted": signals_deleted,
            },
        )
    for path in old_files:
        path.unlink(missing_ok=True)
    _log.info("records deleted", extra={"project": pid, "records": removed})
    return {"deleted": removed}
