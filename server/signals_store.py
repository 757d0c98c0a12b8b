"""Deleting stored signal ciphertexts: on project close and after the retention period.

Signal rows are ciphertexts the server cannot open, but they are kept no longer than the
encodings they belong to (必要最小限): closing a project deletes them, and the worker's
retention pass deletes signal uploads older than the retention period, as it does
encodings. The upload headers (codes, versions, counts) go with them; the audit log keeps
that they were deleted and how many.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.db.models import SignalRow, SignalUpload


def delete_project_signals(session: Session, pid: str) -> int:
    """Delete a project's signal uploads and ciphertexts in ``session``; return rows deleted."""
    n = session.execute(
        select(func.count()).select_from(SignalRow).where(SignalRow.project_id == pid)
    ).scalar_one()
    session.execute(delete(SignalRow).where(SignalRow.project_id == pid))
    session.execute(delete(SignalUpload).where(SignalUpload.project_id == pid))
    return int(n)


def delete_signals_before(session: Session, cutoff: datetime) -> dict[str, int]:
    """Delete signal uploads created before ``cutoff``; return ``{project_id: uploads}``."""
    old = session.execute(
        select(SignalUpload.id, SignalUpload.project_id).where(SignalUpload.created_at < cutoff)
    ).all()
    if not old:
        return {}
    ids = [upload_id for upload_id, _ in old]
    session.execute(delete(SignalRow).where(SignalRow.upload_id.in_(ids)))
    session.execute(delete(SignalUpload).where(SignalUpload.id.in_(ids)))
    by_project: dict[str, int] = {}
    for _, pid in old:
        by_project[pid] = by_project.get(pid, 0) + 1
    return by_project
