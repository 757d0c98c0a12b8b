"""A read-only overview for the coordinator's dashboard: uploads and credential expiry.

Adds nothing the coordinator could not already infer from its own project, except when
each body uploaded, the linkage secret's fingerprint each upload declared (a digest of a
256-bit random secret, the value bodies read to each other by phone), and when the
project's credentials expire: no credential ids, hashes or secrets, no encodings, no
file names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from server.api import API_PREFIX
from server.api.deps import Coordinator, SessionDep, SettingsDep, project_for
from server.db.models import Credential, Upload


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


router = APIRouter(prefix=API_PREFIX, tags=["dashboard"])


@router.get("/projects/{pid}/overview")
def project_overview(
    pid: str, principal: Coordinator, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Uploads (body, records, mode, when) and the project's credentials' expiry."""
    project = project_for(session, principal, pid)
    uploads = session.execute(
        select(Upload).where(Upload.project_id == pid).order_by(Upload.created_at)
    ).scalars()
    creds = session.execute(
        select(Credential)
        .where(Credential.project_id == pid)
        .order_by(Credential.role, Credential.body, Credential.created_at)
    ).scalars()
    return {
        "project_id": pid,
        "created_at": _iso(project.created_at),
        "schema_id": project.schema_id,
        "retention_days": settings.retention_days,
        "uploads": [
            {
                "upload_id": u.id,
                "body": u.body,
                "records": u.count,
                "mode": u.mode,
                "schema_id": project.schema_id,  # uploads with another schema are refused
                # Uploads with another fingerprint are refused (409); shown so that the
                # coordinator sees at a glance that every body used the same secret.
                "secret_fingerprint": u.secret_fingerprint,
                "created_at": _iso(u.created_at),
            }
            for u in uploads
        ],
        "credentials": [
            {
                "role": c.role,
                "body": c.body,
                "created_at": _iso(c.created_at),
                "expires_at": _iso(c.expires_at),
                "revoked": c.revoked_at is not None,
            }
            for c in creds
        ],
    }
