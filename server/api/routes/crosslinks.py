"""Cross-municipality linkage: a linkage across two or more projects (issue 15).

Each project stays isolated (its own linkage secret, bodies and coordinator). A cross-link
names the member projects; it is proposed by the operator or by one member's coordinator,
and nothing can be uploaded to it or run before **every** member's coordinator approved it
with its own credential. Any of them can withdraw at any time, which deletes the
cross-link's encodings and results.

The participating bodies encode under a *joint* secret agreed among them (not any city's
own secret: the server refuses a cross upload whose secret fingerprint equals one of a
member project's uploads) and upload to the cross-link with the refs of their project
uploads (``kakehashi crosslink upload`` rewrites the refs on the body's machine).

A run links the cities' records; only records whose group spans two or more member
projects are stored, under an opaque link id shared by the group. Each coordinator gets
back only its own project's rows, with its own project's tokens (of its latest finished
project run); nothing about another city's records, matched or not, is returned to it.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from server.api import API_PREFIX
from server.api.deps import (
    FactoryDep,
    Principal,
    SessionDep,
    SettingsDep,
    audit_note,
    is_id,
    require_roles,
)
from server.api.receive import Staged, receive_encodings
from server.api.routes.projects import Name
from server.core import audit
from server.core.config import Settings
from server.core.files import private_dir
from server.core.problems import Problem
from server.core.security import new_id
from server.crosslink_runs import cross_dir, cross_run_dir, remove_paths, withdraw
from server.db.models import (
    CrossLink,
    CrossLinkMember,
    CrossLinkRow,
    CrossRun,
    CrossUpload,
    Project,
    Run,
    TokenRow,
    Upload,
    utcnow,
)
from server.storage import check_fingerprint_against

router = APIRouter(prefix=API_PREFIX, tags=["crosslinks"])
_log = logging.getLogger("kakehashi.server.crosslinks")

OperatorOrCoordinator = Annotated[Principal, Depends(require_roles("operator", "coordinator"))]
CoordinatorOnly = Annotated[Principal, Depends(require_roles("coordinator"))]
BodyOnly = Annotated[Principal, Depends(require_roles("body"))]
Party = Annotated[Principal, Depends(require_roles("operator", "coordinator", "body"))]


#: The lowest default threshold of a cross-link. Within a city most children have a record
#: in several bodies; across cities most have none in the other city, so a project's lower
#: threshold would link look-alikes (two-city demo, 2 × 2000 children, 100 movers, one seed,
#: in-sample: precision 0.97 at 0.70, 0.99–1.0 at 0.75 with recall 1.0, recall 0.81 at
#: 0.80; docs/operations.md). A proposer may still give any threshold.
CROSS_MIN_DEFAULT_THRESHOLD = 0.75


class CrossLinkCreate(BaseModel):
    name: Name
    projects: list[str] = Field(min_length=2, max_length=60)
    threshold: float | None = Field(default=None, gt=0, le=1)


def _not_found() -> Problem:
    return Problem(404, "Not Found", "no such cross-link", "not-found")


def crosslink_for(
    session: Session, principal: Principal, xid: str, *, lock: bool = False
) -> tuple[CrossLink, list[CrossLinkMember]]:
    """The cross-link ``xid`` and its members if the caller may see it (the operator, or a
    coordinator or body of a member project); 404 otherwise (no existence leak)."""
    if not is_id(xid):
        raise _not_found()
    stmt = select(CrossLink).where(CrossLink.id == xid)
    if lock:
        stmt = stmt.with_for_update()
    link = session.execute(stmt).scalar()
    if link is None:
        raise _not_found()
    members = list(
        session.execute(
            select(CrossLinkMember)
            .where(CrossLinkMember.crosslink_id == xid)
            .order_by(CrossLinkMember.project_id)
        ).scalars()
    )
    if principal.role != "operator" and principal.project_id not in {m.project_id for m in members}:
        raise _not_found()
    return link, members


def _audit_all(
    session: Session,
    principal: Principal | None,
    members: list[CrossLinkMember],
    action: str,
    detail: dict[str, Any],
) -> None:
    """One audit entry in every member project's log (state changes all members see)."""
    for m in members:
        audit.append(
            session,
            actor=principal.actor if principal else "system",
            action=action,
            project_id=m.project_id,
            detail=detail,
        )


def _view(session: Session, principal: Principal, link: CrossLink, members: list) -> dict:
    """What the caller may see of a cross-link: members and approvals, its own project's
    uploads (others' only as uploaded yes/no), the latest run with its own statistics."""
    names = dict(
        session.execute(
            select(Project.id, Project.name).where(Project.id.in_([m.project_id for m in members]))
        ).all()
    )
    uploads = session.execute(
        select(CrossUpload.project_id, CrossUpload.body, CrossUpload.count).where(
            CrossUpload.crosslink_id == link.id
        )
    ).all()
    mine = principal.project_id
    view_members = []
    for m in members:
        entry: dict[str, Any] = {
            "project_id": m.project_id,
            "name": names.get(m.project_id),
            "approved": m.approved_at is not None,
            "uploaded": any(p == m.project_id for p, _, _ in uploads),
        }
        if principal.role == "coordinator" and m.project_id == mine:
            entry["upload_counts"] = {b: n for p, b, n in uploads if p == mine}
        view_members.append(entry)
    view: dict[str, Any] = {
        "crosslink_id": link.id,
        "name": link.name,
        "status": link.status,
        "schema_id": link.schema_id,
        "threshold": link.threshold,
        "members": view_members,
    }
    if principal.role == "body":
        view["my_upload"] = next(
            (n for p, b, n in uploads if p == mine and b == principal.body), None
        )
    run = session.execute(
        select(CrossRun)
        .where(CrossRun.crosslink_id == link.id)
        .order_by(CrossRun.created_at.desc())
        .limit(1)
    ).scalar()
    if run is not None and principal.role != "body":
        view["latest_run"] = run_view(principal, run)
    return view


def run_view(principal: Principal, run: CrossRun) -> dict[str, Any]:
    view: dict[str, Any] = {
        "run_id": run.id,
        "status": run.status,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if run.error:
        view["error"] = run.error
    if run.stats:
        view["linked_groups"] = run.stats.get("linked_groups")
        if principal.role == "coordinator":
            view["own"] = (run.stats.get("projects") or {}).get(principal.project_id)
    return view


@router.post("/crosslinks", status_code=201)
def propose_crosslink(
    payload: CrossLinkCreate,
    request: Request,
    principal: OperatorOrCoordinator,
    session: SessionDep,
) -> dict[str, Any]:
    """Propose a cross-link between projects (operator, or a member project's coordinator).

    It starts ``proposed``: every member's coordinator must approve it before anything can
    be uploaded to it or run. All member projects must use the same linkage schema.
    """
    pids = list(dict.fromkeys(payload.projects))
    if len(pids) < 2 or any(not is_id(p) for p in pids):
        raise Problem(
            422, "Invalid projects", "a cross-link needs at least two distinct project ids"
        )
    if principal.role == "coordinator" and principal.project_id not in pids:
        raise Problem(
            422, "Invalid projects", "a coordinator may only propose a cross-link with its project"
        )
    with session.begin():
        projects = {
            p.id: p for p in session.execute(select(Project).where(Project.id.in_(pids))).scalars()
        }
        unknown = [p for p in pids if p not in projects]
        if unknown:
            raise Problem(404, "Not Found", f"no such project: {unknown[0]}", "not-found")
        closed = [p for p in pids if projects[p].status != "open"]
        if closed:
            raise Problem(409, "Project closed", f"project {closed[0]} is closed", "closed")
        schemas = {projects[p].schema_id for p in pids}
        if len(schemas) != 1:
            raise Problem(
                422,
                "Schema mismatch",
                "the member projects use different linkage schemas; a cross-link needs one",
                "schema-mismatch",
            )
        first = projects[pids[0]]
        threshold = payload.threshold or max(
            CROSS_MIN_DEFAULT_THRESHOLD, *(projects[p].threshold for p in pids)
        )
        xid = new_id()
        link = CrossLink(
            id=xid,
            name=payload.name,
            schema_id=first.schema_id,
            bit_length=first.bit_length,
            threshold=threshold,
            status="proposed",
            proposed_by=principal.actor,
        )
        session.add(link)
        session.flush()
        members = [CrossLinkMember(crosslink_id=xid, project_id=p) for p in pids]
        session.add_all(members)
        session.flush()
        _audit_all(
            session,
            principal,
            members,
            "crosslink.proposed",
            {"crosslink": xid, "projects": pids, "threshold": threshold},
        )
        view = _view(session, principal, link, members)
    audit_note(request, crosslink=xid)
    return view


@router.get("/crosslinks")
def list_crosslinks(principal: Party, session: SessionDep) -> list[dict[str, Any]]:
    """Cross-links the caller takes part in (the operator: all)."""
    stmt = select(CrossLink).order_by(CrossLink.created_at)
    if principal.role != "operator":
        stmt = stmt.join(CrossLinkMember, CrossLinkMember.crosslink_id == CrossLink.id).where(
            CrossLinkMember.project_id == principal.project_id
        )
    out = []
    for link in list(session.execute(stmt).scalars()):
        _, members = crosslink_for(session, principal, link.id)
        out.append(_view(session, principal, link, members))
    return out


@router.get("/crosslinks/{xid}")
def get_crosslink(xid: str, principal: Party, session: SessionDep) -> dict[str, Any]:
    """A cross-link's status, members and approvals, and the caller's own uploads."""
    link, members = crosslink_for(session, principal, xid)
    return _view(session, principal, link, members)


def _own_member(principal: Principal, members: list[CrossLinkMember]) -> CrossLinkMember:
    return next(m for m in members if m.project_id == principal.project_id)


@router.post("/crosslinks/{xid}/approve")
def approve_crosslink(xid: str, principal: CoordinatorOnly, session: SessionDep) -> dict[str, Any]:
    """Approve the cross-link for the caller's project; once every member's coordinator
    has approved, it opens for uploads and runs."""
    with session.begin():
        link, members = crosslink_for(session, principal, xid, lock=True)
        if link.status == "withdrawn":
            raise Problem(409, "Withdrawn", "this cross-link was withdrawn", "withdrawn")
        own = _own_member(principal, members)
        if own.approved_at is None:
            own.approved_at = utcnow()
            own.approved_by = principal.actor
            session.flush()
            _audit_all(
                session,
                principal,
                members,
                "crosslink.approved",
                {"crosslink": xid, "project": own.project_id},
            )
        if link.status == "proposed" and all(m.approved_at is not None for m in members):
            link.status = "open"
            _audit_all(session, None, members, "crosslink.opened", {"crosslink": xid})
        view = _view(session, principal, link, members)
    return view


@router.post("/crosslinks/{xid}/withdraw")
def withdraw_crosslink(
    xid: str, principal: CoordinatorOnly, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Withdraw the caller's project (and so end the cross-link): its encodings and results
    are deleted and queued runs cancelled. Cannot be undone; propose a new one instead."""
    with session.begin():
        link, members = crosslink_for(session, principal, xid, lock=True)
        files: list[Path] = []
        if link.status != "withdrawn":
            files = withdraw(
                session, settings, link, principal.actor, principal.project_id or "", "withdrawn"
            )
        view = _view(session, principal, link, members)
    remove_paths(files)
    return view


# -- uploads ---------------------------------------------------------------------------


def _upload_info(factory: sessionmaker[Session], principal: Principal, xid: str) -> dict:
    with factory() as session:
        link, _ = crosslink_for(session, principal, xid)
        _require_open(link)
        return {
            "schema_id": link.schema_id,
            "bit_length": link.bit_length,
            "fingerprints": _cross_fingerprints(session, xid, principal),
        }


def _require_open(link: CrossLink) -> None:
    if link.status == "withdrawn":
        raise Problem(409, "Withdrawn", "this cross-link was withdrawn", "withdrawn")
    if link.status != "open":
        raise Problem(
            409,
            "Not approved",
            "every member project's coordinator must approve the cross-link first",
            "not-approved",
        )


def _cross_fingerprints(session: Session, xid: str, principal: Principal) -> dict[str, str]:
    """Fingerprints of the cross-link's other uploads (fingerprint → a body using it)."""
    found: dict[str, str] = {}
    for fp, body in session.execute(
        select(CrossUpload.secret_fingerprint, CrossUpload.body)
        .where(CrossUpload.crosslink_id == xid)
        .where(
            (CrossUpload.project_id != principal.project_id) | (CrossUpload.body != principal.body)
        )
        .order_by(CrossUpload.created_at)
    ):
        found.setdefault(fp, body)
    return found


def _project_fingerprints(session: Session, members: list[CrossLinkMember]) -> set[str]:
    return {
        fp
        for (fp,) in session.execute(
            select(Upload.secret_fingerprint)
            .where(Upload.project_id.in_([m.project_id for m in members]))
            .where(Upload.secret_fingerprint.is_not(None))
            .distinct()
        )
    }


@router.post(
    "/crosslinks/{xid}/uploads",
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
async def upload_cross_encodings(
    xid: str,
    request: Request,
    principal: BodyOnly,
    factory: FactoryDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Upload the calling body's encodings under the joint secret (replaces its earlier
    cross upload). Refused unless every coordinator approved; refused when the secret
    fingerprint differs from the cross-link's other uploads, or equals one a member
    project uses for its own uploads (the joint secret must be a secret of its own)."""
    info = await run_in_threadpool(_upload_info, factory, principal, xid)
    result, staged = await receive_encodings(
        request,
        settings,
        info=info,
        final_dir=private_dir(cross_dir(settings)),
        note={"crosslink": xid},
        commit=lambda staged: _commit_upload(factory, settings, principal, xid, staged),
    )
    if staged is not None:  # always: a cross upload has no "unchanged" check
        _log.info("cross upload stored", extra={"upload": staged.upload_id, "crosslink": xid})
    return result


def _commit_upload(
    factory: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    xid: str,
    staged: Staged,
) -> tuple[dict[str, Any], list[Path]]:
    upload_id, sha, parsed = staged.upload_id, staged.sha256, staged.parsed
    with factory() as session, session.begin():
        link, members = crosslink_for(session, principal, xid, lock=True)
        _require_open(link)
        # Again under the cross-link's lock: another body may have uploaded meanwhile.
        check_fingerprint_against(
            parsed.secret_fingerprint, _cross_fingerprints(session, xid, principal)
        )
        if parsed.secret_fingerprint in _project_fingerprints(session, members):
            raise Problem(
                409,
                "Not a joint secret",
                f"this file was encoded with the secret whose fingerprint is "
                f"{parsed.secret_fingerprint}, which a member project uses for its own "
                "uploads: encode for the cross-link with a joint secret of its own "
                "(`kakehashi secret new`, shared by the participating bodies only)",
                "not-joint-secret",
            )
        mine = list(
            session.execute(
                select(CrossUpload).where(
                    CrossUpload.crosslink_id == xid,
                    CrossUpload.project_id == principal.project_id,
                    CrossUpload.body == principal.body,
                )
            ).scalars()
        )
        old = [cross_dir(settings) / u.file_name for u in mine]
        for u in mine:
            session.delete(u)
        session.add(
            CrossUpload(
                id=upload_id,
                crosslink_id=xid,
                project_id=principal.project_id,
                body=principal.body,
                sha256=sha,
                count=parsed.count,
                bit_length=parsed.bit_length,
                file_name=staged.final.name,
                secret_fingerprint=parsed.secret_fingerprint,
            )
        )
        audit.append(
            session,
            actor=principal.actor,
            action="crosslink.upload.stored",
            project_id=principal.project_id,
            detail={
                "crosslink": xid,
                "upload": upload_id,
                "records": parsed.count,
                "sha256": sha,
                "replaced": len(mine),
                "secret_fingerprint": parsed.secret_fingerprint,
            },
        )
        session.flush()
        staged.records.replace(staged.final)
    return {"upload_id": upload_id, "count": parsed.count, "sha256": sha}, old


# -- runs and results ------------------------------------------------------------------


@router.post("/crosslinks/{xid}/runs", status_code=202)
def start_cross_run(
    xid: str, request: Request, principal: CoordinatorOnly, session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:  # fmt: skip
    """Queue a run over the cross-link's current uploads (a member's coordinator).

    Refused (409) unless every member's coordinator has approved, and unless at least two
    member projects have uploaded.
    """
    with session.begin():
        link, members = crosslink_for(session, principal, xid, lock=True)
        _require_open(link)
        if any(m.approved_at is None for m in members):  # never true while open; kept as a gate
            raise Problem(409, "Not approved", "not every coordinator approved", "not-approved")
        active = session.execute(
            select(CrossRun.id).where(
                CrossRun.crosslink_id == xid, CrossRun.status.in_(("queued", "running"))
            )
        ).first()
        if active is not None:
            raise Problem(409, "Run in progress", f"run {active[0]} is still queued or running",
                          "busy")  # fmt: skip
        uploads = list(
            session.execute(
                select(CrossUpload)
                .where(CrossUpload.crosslink_id == xid)
                .order_by(CrossUpload.project_id, CrossUpload.body)
            ).scalars()
        )
        if len({u.project_id for u in uploads}) < 2:
            raise Problem(
                409,
                "Not enough uploads",
                "a cross-link run needs uploads from at least two member projects",
                "not-enough-uploads",
            )
        run = CrossRun(id=new_id(), crosslink_id=xid, status="queued")
        session.add(run)
        session.flush()
        folder = cross_run_dir(settings, run.id)
        private_dir(folder.parent)
        private_dir(folder)
        for u in uploads:
            try:
                os.link(cross_dir(settings) / u.file_name, folder / u.file_name)
            except OSError:
                shutil.copyfile(cross_dir(settings) / u.file_name, folder / u.file_name)
        run.stats = {
            "inputs": [
                {"project": u.project_id, "body": u.body, "file": u.file_name, "count": u.count}
                for u in uploads
            ]
        }
        _audit_all(
            session, principal, members, "crosslink.run.queued",
            {"crosslink": xid, "run": run.id, "uploads": len(uploads)},
        )  # fmt: skip
        rid = run.id
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return {"run_id": rid, "status": "queued"}


@router.get("/crosslinks/{xid}/runs/{rid}")
def get_cross_run(
    xid: str, rid: str, principal: CoordinatorOnly, session: SessionDep
) -> dict[str, Any]:
    """A cross run's status; statistics of the caller's own project only."""
    crosslink_for(session, principal, xid)
    run = session.get(CrossRun, rid) if is_id(rid) else None
    if run is None or run.crosslink_id != xid:
        raise Problem(404, "Not Found", "no such run", "not-found")
    return run_view(principal, run)


@router.get("/crosslinks/{xid}/results")
def cross_results(
    xid: str, principal: CoordinatorOnly, session: SessionDep, factory: FactoryDep
) -> dict[str, Any]:
    """The caller's own records that link to another member project, from the latest
    finished cross run: ``link`` (shared by the group's records in every city), ``body``,
    ``ref`` and the caller's own project ``token`` (of its latest finished project run;
    empty when that run has no such ref, e.g. the body re-encoded with new refs).

    Nothing of another project is returned: not its tokens or refs, not its unmatched
    records, not its record counts. Whether a child moved in or out cannot be told from
    encodings; ``direction`` says so.
    """
    link, _ = crosslink_for(session, principal, xid)
    if link.status == "withdrawn":
        raise Problem(409, "Withdrawn", "this cross-link was withdrawn", "withdrawn")
    run = session.execute(
        select(CrossRun)
        .where(CrossRun.crosslink_id == xid, CrossRun.status == "done")
        .order_by(CrossRun.finished_at.desc())
        .limit(1)
    ).scalar()
    if run is None:
        raise Problem(404, "No results", "no run of this cross-link has finished yet",
                      "no-results")  # fmt: skip
    pid = principal.project_id
    rows = session.execute(
        select(CrossLinkRow.link, CrossLinkRow.body, CrossLinkRow.ref)
        .where(CrossLinkRow.run_id == run.id, CrossLinkRow.project_id == pid)
        .order_by(CrossLinkRow.link, CrossLinkRow.body)
    ).all()
    own_run = session.execute(
        select(Run.id)
        .where(Run.project_id == pid, Run.status == "done")
        .order_by(Run.finished_at.desc())
        .limit(1)
    ).scalar()
    tokens: dict[tuple[str, str], str] = {}
    if own_run is not None and rows:
        wanted = sorted({ref for _, _, ref in rows})
        for start in range(0, len(wanted), 5000):  # bounded IN lists on every backend
            for body, ref, token in session.execute(
                select(TokenRow.body, TokenRow.ref, TokenRow.token).where(
                    TokenRow.run_id == own_run, TokenRow.ref.in_(wanted[start : start + 5000])
                )
            ):
                tokens[(body, ref)] = token
    out = [{"link": lk, "body": b, "ref": r, "token": tokens.get((b, r), "")} for lk, b, r in rows]
    session.close()
    audit.append_now(
        factory,
        actor=principal.actor,
        action="crosslink.results.download",
        project_id=pid,
        detail={"crosslink": xid, "run": run.id, "rows": len(out)},
    )
    return {
        "crosslink_id": xid,
        "run_id": run.id,
        "project_run_id": own_run,
        "links": len({r["link"] for r in out}),
        "unresolved": sum(1 for r in out if not r["token"]),
        "direction": "unknown",
        "direction_note": (
            "encodings cannot tell whether a child moved in or out; ask the bodies which "
            "record is current (転入・転出の別は符号からは分かりません。各機関に確認してください)"
        ),
        "rows": out,
    }
