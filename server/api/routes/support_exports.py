"""The coordinator records each support-list export in the audit log (never its content).

The support list is made on the coordinator's machine from decrypted signals; the server
never sees it. What it records is who exported a list, when, with which rule file (its
SHA-256), which catalogue version, and how many children were listed and screened.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, ValidationError

from server.api import API_PREFIX
from server.api.deps import Coordinator, FactoryDep, SessionDep, project_for
from server.core import audit
from server.core.problems import Problem

router = APIRouter(prefix=API_PREFIX, tags=["support"])


class SupportExport(BaseModel):
    rules_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    catalogue_version: int = Field(ge=1)
    listed: int = Field(ge=0)
    screened: int = Field(ge=0)
    filtered: bool = False


@router.post("/projects/{pid}/support/exports", status_code=201)
def record_support_export(
    pid: str,
    principal: Coordinator,
    session: SessionDep,
    factory: FactoryDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Record one export of a support list: rule file hash, catalogue version, counts."""
    project_for(session, principal, pid)  # another project's: 404 before any check
    try:
        export = SupportExport.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise Problem(422, "Invalid request", where, "invalid-request") from None
    session.close()
    audit.append_now(
        factory,
        actor=principal.actor,
        action="support.export",
        project_id=pid,
        detail=export.model_dump(),
    )
    return {"recorded": True, **export.model_dump()}
