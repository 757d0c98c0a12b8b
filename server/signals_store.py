"""Deleting stored signal ciphertexts: on project close, after the retention period, and
with the records they belong to (deleted by ref, or replaced by an append).

Signal rows are ciphertexts the server cannot open, but they are kept no longer than the
encodings they belong to (必要最小限): closing a project deletes them, and the worker's
retention pass deletes signal uploads older than the retention period, as it does
encodings. The upload headers (codes, versions, counts) go with them; the audit log keeps
that they were deleted and how many.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
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


#: Rows per ``IN (...)`` list: bounded on every backend.
_BATCH = 5000
_REF_BYTES = 16
_VOID = f"V{_REF_BYTES}"


def delete_ref_signals(session: Session, pid: str, body: str, refs: np.ndarray) -> int:
    """Delete ``body``'s ciphertexts of these refs in ``session``; return rows deleted.

    ``refs``: ``(k,)`` 16-byte void refs (``record_edits.ref_view``) or ``(k, 16)`` uint8.

    Called in the transaction that deletes or replaces those records, so a signal never
    outlives its record's version. An upload header left without a ciphertext is deleted;
    one that keeps some gets its ``count`` and ``sha256`` set to what remains (the digest
    of the remaining ``ref + ciphertext`` rows in ref order), so that sending the original
    file again is checked as a new upload rather than answered as an unchanged duplicate.
    """
    if refs.dtype.kind == "V":
        wanted = np.ascontiguousarray(refs).ravel()
    else:
        wanted = np.ascontiguousarray(refs, np.uint8).reshape(-1, _REF_BYTES).view(_VOID).ravel()
    if not wanted.size:
        return 0
    # Only the rows of these refs are read (stored refs are lowercase hex), a batch at a time.
    flat = np.unique(wanted).tobytes().hex()
    step = 2 * _REF_BYTES
    hex_refs = [flat[i : i + step] for i in range(0, len(flat), step)]
    hits: list[tuple[int, str]] = []
    for start in range(0, len(hex_refs), _BATCH):
        hits.extend(
            (row_id, upload_id)
            for row_id, upload_id in session.execute(
                select(SignalRow.id, SignalRow.upload_id).where(
                    SignalRow.project_id == pid,
                    SignalRow.body == body,
                    SignalRow.ref.in_(hex_refs[start : start + _BATCH]),
                )
            )
        )
    if not hits:
        return 0
    ids = [row_id for row_id, _ in hits]
    for start in range(0, len(ids), _BATCH):
        session.execute(delete(SignalRow).where(SignalRow.id.in_(ids[start : start + _BATCH])))
    for upload_id in sorted({upload_id for _, upload_id in hits}):
        digest = hashlib.sha256()
        left = 0
        for ref, blob in session.execute(
            select(SignalRow.ref, SignalRow.ciphertext)
            .where(SignalRow.upload_id == upload_id)
            .order_by(SignalRow.ref)
            .execution_options(yield_per=_BATCH)
        ):
            digest.update(bytes.fromhex(ref) + bytes(blob))
            left += 1
        upload = session.get(SignalUpload, upload_id)
        if upload is None:
            continue
        if left == 0:
            session.delete(upload)
        else:
            upload.count = left
            upload.sha256 = digest.hexdigest()
    session.flush()
    return len(ids)
