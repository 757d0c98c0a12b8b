"""Projects: creation by the operator, summaries and schema for members, closing."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import func, select

from linkage.errors import SchemaError
from linkage.schema import default_schema, parse_schema
from server.api import API_PREFIX
from server.api.deps import (
    CoordinatorOrOperator,
    FactoryDep,
    Member,
    Operator,
    SessionDep,
    SettingsDep,
    audit_note,
    project_for,
)
from server.core import audit
from server.core.problems import Problem
from server.core.security import new_id
from server.credentials import issue
from server.crosslink_runs import end_crosslinks_of, remove_paths
from server.db.models import Project, Upload, utcnow
from server.delta_run import drop_states
from server.family_run import delete_project_family
from server.signals_store import delete_project_signals
from server.worker import delete_encodings

router = APIRouter(prefix=API_PREFIX, tags=["projects"])


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it for every backend alike.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


#: A body or project name: what the ``String(200)`` columns hold, without NUL.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


class ProjectCreate(BaseModel):
    name: Name
    bodies: list[Name] = Field(min_length=2, max_length=1000)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    threshold: float | None = Field(default=None, gt=0, le=1)
    dedup_bodies: list[Name] = Field(default_factory=list, max_length=1000)
    expires_in_days: float | None = Field(default=None, gt=0, le=36500)


def summary(session: SessionDep, project: Project) -> dict[str, Any]:
    counts = dict(
        session.execute(
            select(Upload.body, func.coalesce(func.sum(Upload.count), 0))
            .where(Upload.project_id == project.id)
            .group_by(Upload.body)
        ).all()
    )
    return {
        "project_id": project.id,
        "name": project.name,
        "bodies": list(project.bodies),
        "schema_id": project.schema_id,
        "threshold": project.threshold,
        "status": project.status,
        "upload_counts": {b: int(counts.get(b, 0)) for b in project.bodies},
    }


@router.post("/projects", status_code=201)
def create_project(
    payload: ProjectCreate,
    request: Request,
    principal: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Create a project; returns the coordinator and body credentials and the coordinator's
    one-time recovery code (shown only once). The coordinator should then take the
    credentials over (rotate its own, reissue the bodies', replace the recovery code) so
    that nothing the creator saw stays valid: ``kakehashi credentials take-over``."""
    names = [b.strip() for b in payload.bodies]
    if any(not b for b in names) or len(set(names)) != len(names):
        raise Problem(422, "Invalid bodies", "body names must be non-empty and distinct")
    unknown = set(payload.dedup_bodies) - set(names)
    if unknown:
        raise Problem(422, "Invalid dedup_bodies", "dedup_bodies must name listed bodies")
    try:
        schema = default_schema() if payload.schema_ is None else parse_schema(payload.schema_)
    except SchemaError as exc:
        raise Problem(422, "Invalid schema", str(exc), "invalid-schema") from exc
    threshold = payload.threshold if payload.threshold is not None else schema.default_threshold
    ttl = payload.expires_in_days or settings.credential_ttl_days
    pid = new_id()
    with session.begin():
        session.add(
            Project(
                id=pid,
                name=payload.name,
                schema_json=json.dumps(schema.document, ensure_ascii=False),
                schema_id=schema.schema_id,
                bit_length=schema.bit_length,
                threshold=threshold,
                bodies=names,
                dedup_bodies=list(payload.dedup_bodies),
                status="open",
            )
        )
        session.flush()
        coord_id, coord_secret = issue(session, role="coordinator", project_id=pid, ttl_days=ttl)
        body_creds = {
            b: issue(session, role="body", project_id=pid, body=b, ttl_days=ttl) for b in names
        }
        recovery_id, recovery_code = issue(session, role="recovery", project_id=pid)
        audit.append(
            session,
            actor=principal.actor,
            action="project.created",
            project_id=pid,
            detail={"bodies": len(names), "schema_id": schema.schema_id},
        )
    audit_note(request, project_id=pid)
    return {
        "project_id": pid,
        "schema_id": schema.schema_id,
        "threshold": threshold,
        "credentials": {
            "coordinator": coord_secret,
            "bodies": {b: secret for b, (_, secret) in body_creds.items()},
            "recovery": recovery_code,
        },
        "credential_ids": {
            "coordinator": coord_id,
            "bodies": {b: cid for b, (cid, _) in body_creds.items()},
            "recovery": recovery_id,
        },
    }


@router.get("/projects")
def list_projects(principal: Operator, session: SessionDep) -> list[dict[str, Any]]:
    """All projects (operator): summaries only, no tokens or encodings."""
    projects = session.execute(select(Project).order_by(Project.created_at)).scalars()
    return [summary(session, p) for p in projects]


@router.get("/projects/{pid}")
def get_project(pid: str, principal: Member, session: SessionDep) -> dict[str, Any]:
    """Project summary: name, bodies, schema id, threshold, status, upload counts."""
    return summary(session, project_for(session, principal, pid))


@router.get("/projects/{pid}/schema")
def get_schema(pid: str, principal: Member, session: SessionDep) -> dict[str, Any]:
    """The project's linkage schema document."""
    return json.loads(project_for(session, principal, pid).schema_json)


@router.post("/projects/{pid}/close")
def close_project(
    pid: str,
    principal: CoordinatorOrOperator,
    session: SessionDep,
    settings: SettingsDep,
    factory: FactoryDep,
) -> dict[str, Any]:
    """Close the project and delete its encodings (database rows and files)."""
    with session.begin():
        project = project_for(session, principal, pid, lock=True)
        uploads = list(session.execute(select(Upload).where(Upload.project_id == pid)).scalars())
        records = sum(u.count for u in uploads)
        files = delete_encodings(session, uploads, settings.uploads_dir)
        sealed = delete_project_signals(session, pid)
        cross = end_crosslinks_of(session, settings, pid, principal.actor)
        family = delete_project_family(session, pid)
        project.status = "closed"
        project.closed_at = utcnow()
        audit.append(
            session,
            actor=principal.actor,
            action="encodings.deleted.close",
            project_id=pid,
            detail={
                "uploads": len(uploads),
                "records": records,
                "signal_rows": sealed,
                "family_uploads": family,
            },
        )
    for path in files:
        path.unlink(missing_ok=True)
    drop_states(settings.uploads_dir, pid)  # the stored pairs of its runs go with them
    remove_paths(cross)  # the project's cross-links' encodings and cancelled runs' inputs
    return {
        "project_id": pid,
        "status": "closed",
        "deleted_uploads": len(uploads),
        "deleted_records": records,
    }
