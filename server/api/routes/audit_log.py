"""The project's audit log, readable by its coordinator."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from server.api import API_PREFIX
from server.api.deps import Coordinator, SessionDep, project_for
from server.db.models import AuditEntry

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


@router.get("/projects/{pid}/audit")
def project_audit(
    pid: str,
    principal: Coordinator,
    session: SessionDep,
    after: int = Query(
        default=0, ge=0, le=2**63 - 1, description="only entries with seq greater than this"
    ),
    limit: int = Query(default=1000, ge=1, le=10000),
) -> dict[str, Any]:
    """Audit entries of this project in order, with their chain hashes."""
    project_for(session, principal, pid)
    entries = session.execute(
        select(AuditEntry)
        .where(AuditEntry.project_id == pid, AuditEntry.seq > after)
        .order_by(AuditEntry.seq)
        .limit(limit)
    ).scalars()
    return {
        "entries": [
            {
                "seq": e.seq,
                "ts": e.ts,
                "actor": e.actor,
                "action": e.action,
                "detail": json.loads(e.detail),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ]
    }
