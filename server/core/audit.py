"""Hash-chained audit log: each entry stores the previous entry's hash and its own.

``hash = SHA-256(prev_hash || canonical JSON of (seq, ts, actor, project_id, action, detail))``.
A single-row ``audit_head`` table holds the last seq and hash, so deleting the newest
entries is detected as well as editing or deleting any earlier one. Someone who can write
the database can rewrite the head too; :func:`verify_against` checks the chain against
signed checkpoints kept elsewhere (:mod:`server.core.anchor`), which they cannot forge.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from server.core.problems import is_database_locked
from server.db.models import AuditEntry, AuditHead

_log = logging.getLogger("kakehashi.server.audit")

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


#: Pauses before the request audit entry is tried again when SQLite is busy (seconds).
BUSY_RETRY_PAUSES = (0.1, 0.5, 2.0)


def append_request_entry(factory: sessionmaker[Session], **kwargs: Any) -> bool:
    """Append a request's audit entry after its response; False if it could not be written.

    The response has been sent already, so an error here cannot reach the client: raised
    into the server it would only reset the connection. SQLite's "database is locked" (the
    busy timeout passed) is tried again after each of ``BUSY_RETRY_PAUSES``; if the
    database is still busy the entry is not written and an error names its action and
    project (never its detail). Any other error is raised as before.
    """
    for pause in (*BUSY_RETRY_PAUSES, None):
        try:
            append_now(factory, **kwargs)
            return True
        except OperationalError as exc:
            if not is_database_locked(exc):
                raise
            if pause is None:
                _log.error(
                    "audit entry not written: database busy",
                    extra={"action": kwargs.get("action"), "project": kwargs.get("project_id")},
                )
                return False
            time.sleep(pause)
    return False


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    problem: str | None = None
    bad_seq: int | None = None
    anchored: int | None = None  # entries up to this seq match a signed checkpoint


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


def verify_against(session: Session, checkpoints: list[dict[str, Any]]) -> VerifyResult:
    """Verify the chain, then that it still holds every entry the (already signature-
    checked) ``checkpoints`` vouch for, with the hash they vouch for.

    This detects a truncated log whose head was rewritten (an entry a checkpoint names is
    gone) and an edited entry whose later hashes were recomputed (the hash at a
    checkpoint's seq differs), for everything up to the newest checkpoint.
    """
    result = verify(session)
    if not result.ok:
        return result
    n = result.entries
    last_ok = 0
    for cp in sorted(checkpoints, key=lambda c: c["seq"]):
        seq, where = cp["seq"], f"checkpoint {cp.get('file', '')} signed {cp.get('made_at')}"
        if seq == 0:
            continue
        if seq > n:
            return VerifyResult(
                False,
                n,
                f"the log ends at entry {n}, but {where} vouches for entry {seq}: entries "
                f"{n + 1}..{seq} were removed and the chain head rewritten",
                n + 1,
                last_ok or None,
            )
        entry = session.get(AuditEntry, seq)
        if entry is None or entry.hash != cp["hash"]:
            return VerifyResult(
                False,
                n,
                f"entry {seq} does not match {where}: the log was rewritten between entry "
                f"{last_ok + 1} and entry {seq} (hashes recomputed after an edit)",
                last_ok + 1,
                last_ok or None,
            )
        last_ok = seq
    return VerifyResult(True, n, anchored=last_ok or None)
