"""Credential management by the operator: reissue (rotating) and revoke."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from server.api import API_PREFIX
from server.api.deps import Operator, SessionDep, SettingsDep, project_for
from server.core import audit
from server.core.problems import Problem
from server.credentials import issue, revoke_matching
from server.db.models import Credential, utcnow

router = APIRouter(prefix=API_PREFIX, tags=["credentials"])


class CredentialRequest(BaseModel):
    role: Literal["coordinator", "body"]
    body: str | None = None
    expires_in_days: float | None = Field(default=None, gt=0)


@router.post("/projects/{pid}/credentials", status_code=201)
def reissue_credential(
    pid: str,
    payload: CredentialRequest,
    principal: Operator,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Issue a new coordinator or body credential, revoking the previous one(s)."""
    with session.begin():
        project = project_for(session, principal, pid)
        body = payload.body if payload.role == "body" else None
        if payload.role == "body" and body not in project.bodies:
            raise Problem(422, "Unknown body", "body must be one of the project's bodies")
        revoked = revoke_matching(session, role=payload.role, project_id=pid, body=body)
        cid, secret = issue(
            session,
            role=payload.role,
            project_id=pid,
            body=body,
            ttl_days=payload.expires_in_days or settings.credential_ttl_days,
        )
        audit.append(
            session,
            actor=principal.actor,
            action="credential.issued",
            project_id=pid,
            detail={"credential": cid, "role": payload.role, "revoked": revoked},
        )
    return {"credential_id": cid, "credential": secret, "role": payload.role, "body": body}


@router.delete("/credentials/{cid}")
def revoke_credential(cid: str, principal: Operator, session: SessionDep) -> dict[str, Any]:
    """Revoke a credential by its id."""
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
