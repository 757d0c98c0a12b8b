"""Linkage runs: start, status, cancel (coordinator)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from server.api import API_PREFIX
from server.api.deps import Coordinator, SessionDep, SettingsDep, is_id, project_for
from server.core import audit
from server.core.problems import Problem
from server.core.security import new_id
from server.db.models import Run, utcnow
from server.storage import take_snapshot

router = APIRouter(prefix=API_PREFIX, tags=["runs"])


def run_view(run: Run) -> dict[str, Any]:
    view: dict[str, Any] = {
        "run_id": run.id,
        "status": run.status,
        "progress": round(float(run.progress), 4),
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if run.error:
        view["error"] = run.error
    if run.stats:
        view["stats"] = run.stats
        missing = run.stats.get("missing_bodies") or []
        if missing:
            view["warnings"] = [missing_warning(missing)]
    return view


def missing_warning(missing: list[str]) -> str:
    """The warning shown for a run over a project some of whose bodies uploaded nothing."""
    return (
        f"{len(missing)} body/bodies uploaded nothing and are not in this run: "
        f"{', '.join(missing)} (アップロードのない機関: {', '.join(missing)})"
    )


@router.post("/projects/{pid}/runs", status_code=202)
def start_run(
    pid: str, request: Request, principal: Coordinator, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Queue a linkage run over all current uploads of the project."""
    with session.begin():
        project = project_for(session, principal, pid, lock=True)
        if project.status != "open":
            raise Problem(409, "Project closed", "a closed project cannot be run", "closed")
        active = session.execute(
            select(Run.id).where(Run.project_id == pid, Run.status.in_(("queued", "running")))
        ).first()
        if active is not None:
            raise Problem(
                409, "Run in progress", f"run {active[0]} is still queued or running", "busy"
            )
        run = Run(id=new_id(), project_id=pid, status="queued", progress=0.0)
        session.add(run)
        session.flush()
        # The run's inputs are fixed now, under the project lock that uploads also take.
        inputs = take_snapshot(session, settings.uploads_dir, pid, run.id)
        present = {e["body"] for e in inputs}
        missing = [b for b in project.bodies if b not in present]
        audit.append(
            session,
            actor=principal.actor,
            action="run.queued",
            project_id=pid,
            detail={"run": run.id, "uploads": len(inputs), "missing_bodies": len(missing)},
        )
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    view: dict[str, Any] = {"run_id": run.id, "status": "queued"}
    if missing:
        view["warnings"] = [missing_warning(missing)]
    return view


@router.get("/projects/{pid}/runs")
def list_runs(pid: str, principal: Coordinator, session: SessionDep) -> list[dict[str, Any]]:
    """All runs of the project, newest first."""
    project_for(session, principal, pid)
    runs = session.execute(
        select(Run).where(Run.project_id == pid).order_by(Run.created_at.desc())
    ).scalars()
    return [run_view(r) for r in runs]


def _run(session: SessionDep, pid: str, rid: str) -> Run:
    run = session.get(Run, rid) if is_id(rid) else None
    if run is None or run.project_id != pid:
        raise Problem(404, "Not Found", "no such run", "not-found")
    return run


@router.get("/projects/{pid}/runs/{rid}")
def get_run(pid: str, rid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """Run status with progress (0..1), error and statistics."""
    project_for(session, principal, pid)
    return run_view(_run(session, pid, rid))


@router.post("/projects/{pid}/runs/{rid}/cancel")
def cancel_run(pid: str, rid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """Cancel a queued run at once, or ask a running one to stop at its next step."""
    with session.begin():
        project_for(session, principal, pid)
        run = _run(session, pid, rid)
        if run.status in ("done", "failed", "cancelled"):
            raise Problem(409, "Run finished", f"run is already {run.status}", "finished")
        run.cancel_requested = True
        if run.status == "queued":
            run.status = "cancelled"
            run.finished_at = utcnow()
        audit.append(
            session,
            actor=principal.actor,
            action="run.cancel",
            project_id=pid,
            detail={"run": rid},
        )
        view = run_view(run)
    return view
