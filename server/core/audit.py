"""Hash-chained audit log: each entry stores the previous entry's hash and its own.

``hash = SHA-256(prev_hash || canonical JSON of (seq, ts, actor, project_id, action, detail))``.
A single-row ``audit_head`` table holds the last seq and hash, so deleting the newest
entries is detected as well as editing or deleting any earlier one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_append_lock = threading.Lock()


def entry_hash(
    prev_hash: str,
    seq: int,
    ts: str,
    actor: str,
    project_id: str | None,
    action: str,
    detail: str,
) -> str:
    """The chained hash of one entry's content."""
    content = json.dumps(
        [seq, ts, actor, project_id, action, detail], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    project_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside ``session``'s transaction (the caller commits).

    The head row is read ``FOR UPDATE`` (PostgreSQL) so concurrent writers serialise.
    """
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    seq = head.seq + 1
    ts = datetime.now(UTC).isoformat()
    text = json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = entry_hash(head.hash, seq, ts, actor, project_id, action, text)
    entry = AuditEntry(
        seq=seq,
        ts=ts,
        actor=actor,
        project_id=project_id,
        action=action,
        detail=text,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq = seq
    head.hash = digest
    session.flush()
    return entry


def append_now(factory: sessionmaker[Session], **kwargs: Any) -> None:
    """Append one entry in its own transaction (serialised within this process)."""
    with _append_lock, factory() as session, session.begin():
        append(session, **kwargs)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str | None = None
    bad_seq: int | None = None


def verify(session: Session) -> VerifyResult:
    """Walk the chain in order and report the first entry that does not check out."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        if entry.seq != expected_seq:
            return VerifyResult(
                False,
                count,
                f"entry {expected_seq} is missing (next entry present is {entry.seq})",
                expected_seq,
            )
        if entry.prev_hash != prev:
            return VerifyResult(
                False, count, f"entry {entry.seq}: previous-hash link is broken", entry.seq
            )
        recomputed = entry_hash(
            prev, entry.seq, entry.ts, entry.actor, entry.project_id, entry.action, entry.detail
        )
        if recomputed != entry.hash:
            return VerifyResult(
                False, count, f"entry {entry.seq}: content does not match its hash", entry.seq
            )
        prev = entry.hash
        expected_seq += 1
        count += 1
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (0, GENESIS) if head is None else (head.seq, head.hash)
    if head_seq != count or head_hash != prev:
        return VerifyResult(
            False,
            count,
            f"entries after {count} are missing (the chain head says {head_seq})",
            count + 1,
        )
    return VerifyResult(True, count)
