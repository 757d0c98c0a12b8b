"""The coordinator records that a support list was made (never the list itself).

The support list is made on the coordinator's machine, the only place signals are
decrypted. The server learns only that a list was made: by whom (the coordinator's
credential id) and when (the audit entry's timestamp), from which rule file (its SHA-256,
not its text), over which catalogue version, and how many children it listed. The request
model forbids any other field, so no token, ref, rule name or signal can be sent here, and
the catalogue version must be one the project has.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.api import API_PREFIX
from server.api.deps import Coordinator, SessionDep, project_for
from server.core import audit
from server.core.problems import Problem
from server.db.models import SignalCatalogue

router = APIRouter(prefix=API_PREFIX, tags=["audit"])

ACTION = "support_list.made"


class SupportListMade(BaseModel):
    """What the coordinator reports about a list it made; nothing else is accepted."""

    model_config = ConfigDict(extra="forbid")

    rules_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the rule file")
    catalogue_version: int = Field(ge=1, le=1_000_000)
    listed: int = Field(ge=0, le=100_000_000, description="number of children listed")


@router.post("/projects/{pid}/support-lists", status_code=201)
def record_support_list(
    pid: str,
    principal: Coordinator,
    session: SessionDep,
    payload: Annotated[dict[str, Any], Body(description="SupportListMade")],
) -> dict[str, Any]:
    """Append an audit entry for a support list made on the coordinator's machine.

    The project is checked before the body, so another project's coordinator learns
    nothing (404) whatever it sends.
    """
    with session.begin():
        project_for(session, principal, pid)
        try:
            made = SupportListMade.model_validate(payload)
        except ValidationError as exc:
            parts = [
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            ]
            raise Problem(422, "Invalid request", "; ".join(parts), "invalid-request") from None
        if session.get(SignalCatalogue, (pid, made.catalogue_version)) is None:
            raise Problem(
                422,
                "Invalid request",
                f"catalogue_version: this project has no signal catalogue version "
                f"{made.catalogue_version}",
                "invalid-request",
            )
        entry = audit.append(
            session,
            actor=principal.actor,
            action=ACTION,
            project_id=pid,
            detail=made.model_dump(),
        )
        seq, ts = entry.seq, entry.ts
    return {"seq": seq, "recorded_at": ts}
