"""Issuing and revoking credentials; the operator credential written on first start."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.core import audit
from server.core.security import hash_credential, new_credential, new_id
from server.db.models import Credential

_log = logging.getLogger("kakehashi.server")
OPERATOR_FILE = "operator.credential"


def issue(
    session: Session,
    *,
    role: str,
    project_id: str | None = None,
    body: str | None = None,
    ttl_days: float | None = None,
) -> tuple[str, str]:
    """Store a new credential's hash and return ``(credential_id, secret)``.

    The secret is returned once and never stored.
    """
    secret = new_credential()
    cid = new_id()
    expires = None if ttl_days is None else datetime.now(UTC) + timedelta(days=ttl_days)
    session.add(
        Credential(
            id=cid,
            secret_hash=hash_credential(secret),
            role=role,
            project_id=project_id,
            body=body,
            expires_at=expires,
        )
    )
    return cid, secret


def revoke_matching(
    session: Session, *, role: str, project_id: str | None, body: str | None
) -> int:
    """Revoke every live credential for the same role/project/body; return how many."""
    stmt = update(Credential).where(
        Credential.role == role,
        Credential.revoked_at.is_(None),
        Credential.project_id == project_id if project_id else Credential.project_id.is_(None),
    )
    if body is not None:
        stmt = stmt.where(Credential.body == body)
    return session.execute(stmt.values(revoked_at=datetime.now(UTC))).rowcount


def ensure_operator_credential(factory: sessionmaker[Session], data_dir: Path) -> Path | None:
    """Create the operator credential on first start; write it to a 0600 file.

    Returns the file path when a new credential was made, None when one already exists.
    The secret itself is never logged.
    """
    path = data_dir / OPERATOR_FILE
    with factory() as session, session.begin():
        existing = session.execute(
            select(Credential.id).where(
                Credential.role == "operator", Credential.revoked_at.is_(None)
            )
        ).first()
        if existing is not None:
            return None
        cid, secret = issue(session, role="operator")
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
        os.chmod(path, 0o600)
        audit.append(
            session,
            actor="system",
            action="credential.operator.created",
            detail={"credential": cid},
        )
    _log.info("operator credential written", extra={"path": str(path)})
    return path
