"""Credential management that never hands the operator a readable project credential.

* A coordinator or body credential is reissued only with that party's consent: each party
  rotates its own (``POST /credentials/rotate``), and a body's lost credential is reissued
  by the project's coordinator, who receives the new one and hands it over out of band.
* A coordinator that lost its credential recovers with the one-time recovery code handed
  out at project creation (``POST /projects/{pid}/credentials/recover``); the coordinator
  can replace that code at any time.
* The operator can only revoke (an availability power, never a reading one).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from server.api import API_PREFIX
from server.api.deps import (
    AnyParty,
    Coordinator,
    Operator,
    Recovery,
    SessionDep,
    SettingsDep,
    project_for,
)
from server.core import audit
from server.core.problems import Problem
from server.credentials import issue, revoke_matching
from server.db.models import Credential, utcnow

router = APIRouter(prefix=API_PREFIX, tags=["credentials"])


class CredentialRequest(BaseModel):
    role: Literal["body"] = "body"
    body: str | None = Field(default=None, max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0)


class RotateRequest(BaseModel):
    expires_in_days: float | None = Field(default=None, gt=0)


def _replace(
    session: Session,
    *,
    role: str,
    project_id: str | None,
    body: str | None,
    ttl_days: float | None,
    actor: str,
    action: str,
) -> tuple[str, str, int]:
    revoked = revoke_matching(session, role=role, project_id=project_id, body=body)
    cid, secret = issue(session, role=role, project_id=project_id, body=body, ttl_days=ttl_days)
    detail: dict[str, Any] = {"credential": cid, "role": role, "revoked": revoked}
    if body is not None:
        detail["body"] = body
    audit.append(session, actor=actor, action=action, project_id=project_id, detail=detail)
    return cid, secret, revoked


@router.post("/projects/{pid}/credentials", status_code=201)
def reissue_body_credential(
    pid: str,
    payload: CredentialRequest,
    principal: Coordinator,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """The coordinator reissues a body's credential (e.g. lost); the old one is revoked.

    The new credential is returned to the coordinator, who hands it to the body out of
    band. The operator cannot call this.
    """
    with session.begin():
        project = project_for(session, principal, pid)
        if payload.body is None or payload.body not in project.bodies:
            raise Problem(
                422, "Unknown body", f"body must be one of the project's bodies: {project.bodies}"
            )
        cid, secret, _ = _replace(
            session,
            role="body",
            project_id=pid,
            body=payload.body,
            ttl_days=payload.expires_in_days or settings.credential_ttl_days,
            actor=principal.actor,
            action="credential.reissued",
        )
    return {"credential_id": cid, "credential": secret, "role": "body", "body": payload.body}


@router.post("/credentials/rotate", status_code=201)
def rotate_own_credential(
    principal: AnyParty, session: SessionDep, settings: SettingsDep, payload: RotateRequest
) -> dict[str, Any]:
    """Replace the caller's own credential with a new one (the caller's consent is the call).

    Every live credential of the same role, project and body is revoked.
    """
    ttl = payload.expires_in_days or (
        None if principal.role == "operator" else settings.credential_ttl_days
    )
    with session.begin():
        cid, secret, _ = _replace(
            session,
            role=principal.role,
            project_id=principal.project_id,
            body=principal.body,
            ttl_days=ttl,
            actor=principal.actor,
            action="credential.rotated",
        )
    return {"credential_id": cid, "credential": secret, "role": principal.role}


@router.post("/projects/{pid}/credentials/recovery", status_code=201)
def new_recovery_code(pid: str, principal: Coordinator, session: SessionDep) -> dict[str, Any]:
    """The coordinator replaces its recovery code (e.g. after someone else created the
    project and saw the first one); the previous code stops working."""
    with session.begin():
        project_for(session, principal, pid)
        cid, secret, _ = _replace(
            session,
            role="recovery",
            project_id=pid,
            body=None,
            ttl_days=None,
            actor=principal.actor,
            action="credential.recovery.replaced",
        )
    return {"credential_id": cid, "recovery_code": secret}


@router.post("/projects/{pid}/credentials/recover", status_code=201)
def recover_coordinator(
    pid: str, principal: Recovery, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Coordinator recovery with the one-time recovery code (sent as the bearer credential).

    Revokes every coordinator credential of the project and the code used; returns a new
    coordinator credential and a new recovery code.
    """
    with session.begin():
        project_for(session, principal, pid)
        cid, secret, revoked = _replace(
            session,
            role="coordinator",
            project_id=pid,
            body=None,
            ttl_days=settings.credential_ttl_days,
            actor=principal.actor,
            action="credential.coordinator.recovered",
        )
        rid, code, _ = _replace(
            session,
            role="recovery",
            project_id=pid,
            body=None,
            ttl_days=None,
            actor=principal.actor,
            action="credential.recovery.replaced",
        )
    return {
        "credential_id": cid,
        "credential": secret,
        "recovery_code_id": rid,
        "recovery_code": code,
        "revoked": revoked,
    }


@router.delete("/credentials/{cid}")
def revoke_credential(cid: str, principal: Operator, session: SessionDep) -> dict[str, Any]:
    """Revoke a credential by its id (operator: availability only, nothing to read)."""
    with session.begin():
        cred = session.get(Credential, cid)
        if cred is None:
            raise Problem(404, "Not Found", "no such credential", "not-found")
        if cred.revoked_at is None:
            cred.revoked_at = utcnow()
        audit.append(
            session,
            actor=principal.actor,
            action="credential.revoked",
            project_id=cred.project_id,
            detail={"credential": cid},
        )
    return {"credential_id": cid, "revoked": True}
