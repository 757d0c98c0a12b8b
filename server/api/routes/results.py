"""Results: the coordinator's token table, a body's own mapping, merge/split events.

Only tokens, body names and refs leave the server; similarity scores never do. The
coordinator sees the stable tokens; a body sees its own per-run tokens
(:func:`server.core.security.body_view_token`), which change every run so that a body
cannot tell which of its records newly matched.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.api import API_PREFIX
from server.api.deps import (
    Body,
    Coordinator,
    FactoryDep,
    Principal,
    SessionDep,
    latest_done_run,
    project_for,
)
from server.core import audit
from server.core.problems import Problem
from server.core.security import body_view_token
from server.db.models import LinkEvent, Run, TokenRow, Upload

router = APIRouter(prefix=API_PREFIX, tags=["results"])
_PAGE = 20_000


def _run_for_download(
    session: Session,
    factory: sessionmaker[Session],
    principal: Principal,
    pid: str,
    action: str,
    detail: dict[str, Any],
) -> tuple[str, dict[str, str]]:
    """The latest finished run's id and freshness headers, with the download written to the
    audit log first."""
    project_for(session, principal, pid)
    run = latest_done_run(session, pid)
    rid, headers = run.id, freshness_headers(session, run)
    session.close()  # release the database before writing the audit entry
    audit.append_now(
        factory, actor=principal.actor, action=action, project_id=pid, detail={"run": rid, **detail}
    )
    return rid, headers


def freshness_headers(session: Session, run: Run) -> dict[str, str]:
    """Whether the results of ``run`` are stale: an upload stored after the run took its
    inputs (when it was queued) is not in them. Sent as ``X-Kakehashi-Stale: true|false``
    with the run's id and time and the last upload's time."""
    last = session.execute(
        select(func.max(Upload.created_at)).where(Upload.project_id == run.project_id)
    ).scalar()
    taken = run.created_at
    stale = bool(last and taken and _aware(last) > _aware(taken))
    headers = {
        "X-Kakehashi-Run-Id": run.id,
        "X-Kakehashi-Run-Created": _aware(taken).isoformat() if taken else "",
        "X-Kakehashi-Stale": "true" if stale else "false",
    }
    if last is not None:
        headers["X-Kakehashi-Last-Upload"] = _aware(last).isoformat()
    return headers


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TableChanged(RuntimeError):
    """A run's token rows were deleted while they were being streamed."""


def _rows(
    factory: sessionmaker[Session], rid: str, body: str | None
) -> Iterator[tuple[str, str, str]]:
    """Run ``rid``'s rows (of ``body``, or all) in pages of _PAGE, in id order.

    The pages are read in separate short transactions, so the worker's pruning of
    superseded runs (``token_tables_kept``) could delete the rest of a table mid-stream.
    The count is taken first; a stream that then comes up short is broken off with an
    error instead of ending as a well-formed but truncated file.
    """
    count = select(func.count()).select_from(TokenRow).where(TokenRow.run_id == rid)
    if body is not None:
        count = count.where(TokenRow.body == body)
    with factory() as session:
        expected = int(session.execute(count).scalar_one())
    sent = 0
    last = 0
    while True:
        with factory() as session:
            stmt = (
                select(TokenRow.id, TokenRow.token, TokenRow.body, TokenRow.ref)
                .where(TokenRow.run_id == rid, TokenRow.id > last)
                .order_by(TokenRow.id)
                .limit(_PAGE)
            )
            if body is not None:
                stmt = stmt.where(TokenRow.body == body)
            page = session.execute(stmt).all()
        if not page:
            if sent < expected:
                raise TableChanged(f"run {rid}: token rows were pruned during the download")
            return
        for _row_id, token, b, ref in page:
            yield token, b, ref
        sent += len(page)
        last = page[-1][0]


def _stream(rows: Iterator[tuple[Any, ...]], columns: list[str], fmt: str) -> Iterator[bytes]:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for n, row in enumerate(rows, 1):
            writer.writerow(row)
            if n % 5000 == 0:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue().encode()
        return
    yield b'{"columns":' + json.dumps(columns).encode() + b',"rows":['
    first = True
    for row in rows:
        yield (b"" if first else b",") + json.dumps(list(row)).encode()
        first = False
    yield b"]}"


def _response(
    body: Iterator[bytes], fmt: str, name: str, extra: dict[str, str]
) -> StreamingResponse:
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"', **extra},
    )


@router.get("/projects/{pid}/results/tokens")
def token_table(
    pid: str,
    principal: Coordinator,
    session: SessionDep,
    factory: FactoryDep,
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    """The token table of the latest finished run: rows ``token, body, ref`` (streamed)."""
    rid, fresh = _run_for_download(
        session, factory, principal, pid, "results.tokens.download", {"format": format}
    )
    rows = _rows(factory, rid, None)
    return _response(_stream(rows, ["token", "body", "ref"], format), format, "tokens", fresh)


@router.get("/projects/{pid}/results/mapping")
def body_mapping(
    pid: str,
    principal: Body,
    session: SessionDep,
    factory: FactoryDep,
    format: Literal["csv", "json"] = "csv",
) -> StreamingResponse:
    """The calling body's own rows ``ref, token`` from the latest finished run.

    The tokens are this body's view for this run: the same for the body's records of one
    group, different from the coordinator's tokens, and new in every run.
    """
    rid, fresh = _run_for_download(
        session,
        factory,
        principal,
        pid,
        "results.mapping.download",
        {"format": format, "body": principal.body},
    )
    with factory() as s:
        key = s.get(Run, rid).view_key  # type: ignore[union-attr]
    if key is None:  # pragma: no cover - every run has one since revision 0005
        raise Problem(404, "No results", "this run has no body view", "no-results")
    body = principal.body or ""
    rows = ((ref, body_view_token(key, body, token)) for token, _, ref in _rows(factory, rid, body))
    return _response(_stream(rows, ["ref", "token"], format), format, "mapping", fresh)


@router.get("/projects/{pid}/results/review")
def review_tokens(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """Tokens of the latest run whose groups a person should look at.

    The engine does not merge a record with one of two candidates that score within the
    review margin of each other (twins, for example); it keeps them apart and flags the
    groups involved. No scores are returned, only the tokens and how many records each has.
    """
    project_for(session, principal, pid)
    run = latest_done_run(session, pid)
    rows = session.execute(
        select(TokenRow.token, func.count())
        .where(TokenRow.run_id == run.id, TokenRow.review.is_(True))
        .group_by(TokenRow.token)
        .order_by(TokenRow.token)
    ).all()
    return {"run_id": run.id, "tokens": [{"token": t, "records": n} for t, n in rows]}


@router.get("/projects/{pid}/results/events")
def link_events(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """Merge and split events of the project's runs (tokens only)."""
    project_for(session, principal, pid)
    rows = session.execute(
        select(LinkEvent, Run.finished_at)
        .join(Run, Run.id == LinkEvent.run_id)
        .where(Run.project_id == pid)
        .order_by(LinkEvent.id)
    ).all()
    return {
        "events": [
            {
                "run_id": e.run_id,
                "kind": e.kind,
                "old_tokens": e.old_tokens,
                "new_tokens": e.new_tokens,
                "at": at.isoformat() if at else None,
            }
            for e, at in rows
        ]
    }
