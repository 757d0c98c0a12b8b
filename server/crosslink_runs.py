"""Cross-link runs (issue 15), executed by the server's worker thread after project runs.

A run reads the snapshot its queueing took (hard links of the cross uploads), links every
(project, body) dataset with :func:`linkage.engine.link` (at most one record per body in a
group, as in a project run), and keeps only the groups whose records come from two or
more member projects: each such group gets a fresh random link id, and its records are
stored as ``(link, project, body, ref)``. Nothing about the other records is stored.
A run that crashes is put back in the queue when the server starts again and re-run
from scratch; its rows are written in the transaction that marks it done.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from linkage.errors import LinkageError
from server.core import audit
from server.core.config import Settings
from server.core.security import new_id
from server.db.models import CrossLink, CrossLinkMember, CrossLinkRow, CrossRun, CrossUpload, utcnow
from server.storage import read_records, refs_to_hex

_log = logging.getLogger("kakehashi.server.crosslinks")

#: Folders (under the uploads folder) of cross-link upload files and of run snapshots.
CROSS_DIR = "crosslinks"
CROSS_RUNS_DIR = "crossruns"


def cross_dir(settings: Settings) -> Path:
    """Where the cross uploads' records files are kept."""
    return settings.uploads_dir / CROSS_DIR


def cross_run_dir(settings: Settings, rid: str) -> Path:
    """The folder of hard links a queued cross run reads (removed when it ends)."""
    return settings.uploads_dir / CROSS_RUNS_DIR / rid


def delete_cross_data(session: Session, settings: Settings, xid: str) -> tuple[list[Path], int]:
    """Delete a cross-link's uploads and result rows in ``session``; return the files to
    unlink after commit and how many records were deleted."""
    uploads = list(
        session.execute(select(CrossUpload).where(CrossUpload.crosslink_id == xid)).scalars()
    )
    files = [cross_dir(settings) / u.file_name for u in uploads]
    records = sum(u.count for u in uploads)
    session.execute(delete(CrossUpload).where(CrossUpload.crosslink_id == xid))
    run_ids = select(CrossRun.id).where(CrossRun.crosslink_id == xid)
    session.execute(delete(CrossLinkRow).where(CrossLinkRow.run_id.in_(run_ids)))
    return files, records


def withdraw(
    session: Session, settings: Settings, link: CrossLink, actor: str, project: str, reason: str
) -> list[Path]:
    """End ``link`` in ``session``: delete its encodings and results, cancel its queued or
    running runs (a running one then stores nothing), audit it in every member's log.
    Returns the files and snapshot folders to remove after commit."""
    files, records = delete_cross_data(session, settings, link.id)
    for run in session.execute(
        select(CrossRun).where(
            CrossRun.crosslink_id == link.id, CrossRun.status.in_(("queued", "running"))
        )
    ).scalars():
        if run.status == "queued":  # a running one removes its own snapshot
            files.append(cross_run_dir(settings, run.id))
        run.status = "cancelled"
        run.finished_at = utcnow()
    link.status = "withdrawn"
    link.withdrawn_at = utcnow()
    for member in _members(session, link.id):
        audit.append(
            session,
            actor=actor,
            action="crosslink.withdrawn",
            project_id=member,
            detail={
                "crosslink": link.id,
                "project": project,
                "reason": reason,
                "deleted_records": records,
            },
        )
    return files


def end_crosslinks_of(session: Session, settings: Settings, pid: str, actor: str) -> list[Path]:
    """A project is being closed: withdraw every cross-link it is a member of."""
    links = session.execute(
        select(CrossLink)
        .join(CrossLinkMember, CrossLinkMember.crosslink_id == CrossLink.id)
        .where(CrossLinkMember.project_id == pid, CrossLink.status != "withdrawn")
    ).scalars()
    return [
        path
        for link in list(links)
        for path in withdraw(session, settings, link, actor, pid, "project closed")
    ]


def remove_paths(paths: list[Path]) -> None:
    """Remove files and snapshot folders left by :func:`withdraw` (after commit)."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _members(session: Session, xid: str) -> list[str]:
    return list(
        session.execute(
            select(CrossLinkMember.project_id).where(CrossLinkMember.crosslink_id == xid)
        ).scalars()
    )


def _audit_members(session: Session, xid: str, action: str, detail: dict) -> None:
    for pid in _members(session, xid):
        audit.append(session, actor="system", action=action, project_id=pid, detail=detail)


def requeue_interrupted_cross(factory: sessionmaker[Session]) -> int:
    """Cross runs left ``running`` by a crashed process go back to ``queued``."""
    with factory() as session, session.begin():
        stuck = list(
            session.execute(select(CrossRun).where(CrossRun.status == "running")).scalars()
        )
        for run in stuck:
            run.status = "queued"
            _audit_members(session, run.crosslink_id, "crosslink.run.requeued", {"run": run.id})
    return len(stuck)


def run_next_crosslink(factory: sessionmaker[Session], settings: Settings) -> bool:
    """Claim and execute one queued cross run; False when none is queued."""
    with factory() as session, session.begin():
        run = session.execute(
            select(CrossRun).where(CrossRun.status == "queued").order_by(CrossRun.created_at)
        ).scalar()
        if run is None:
            return False
        claimed = session.execute(
            update(CrossRun)
            .where(CrossRun.id == run.id, CrossRun.status == "queued")
            .values(status="running")
        ).rowcount
        rid, xid, inputs = run.id, run.crosslink_id, list((run.stats or {}).get("inputs", []))
    if not claimed:
        return True
    try:
        rows, stats = _link(factory, settings, rid, xid, inputs)
        _store(factory, rid, xid, rows, stats)
    except (LinkageError, ValueError, OSError) as exc:
        _fail(factory, rid, xid, str(exc) if isinstance(exc, LinkageError) else
              f"run failed ({type(exc).__name__})")  # fmt: skip
    except Exception as exc:
        _log.error("cross run crashed", extra={"run": rid, "error_type": type(exc).__name__})
        _fail(factory, rid, xid, f"internal error ({type(exc).__name__})")
    finally:
        shutil.rmtree(cross_run_dir(settings, rid), ignore_errors=True)
    return True


def _link(
    factory: sessionmaker[Session], settings: Settings, rid: str, xid: str, inputs: list[dict]
) -> tuple[list[dict], dict]:
    """Link the run's snapshot; return the rows of cross-project groups and the stats."""
    from linkage.engine import link  # the engine pulls in numba: imported only when used

    with factory() as session:
        crosslink = session.get(CrossLink, xid)
        if crosslink is None:
            raise LinkageError("cross-link no longer exists")
        threshold, bit_length = float(crosslink.threshold), int(crosslink.bit_length)
    folder = cross_run_dir(settings, rid)
    keys: list[tuple[str, str]] = []  # (project, body) of each dataset
    datasets: list[np.ndarray] = []
    refs: list[list[str]] = []
    for entry in inputs:
        ref_bytes, clks = read_records(folder / entry["file"], bit_length)
        keys.append((entry["project"], entry["body"]))
        datasets.append(clks)
        refs.append(refs_to_hex(ref_bytes))
    projects = sorted({p for p, _ in keys})
    if len(projects) < 2:
        raise LinkageError("a cross-link run needs uploads from at least two member projects")
    # Fixed threshold, as in every server run (docs/engine.md, the threshold section).
    result = link(datasets, threshold=threshold, threshold_from_data=False)
    index = {p: i for i, p in enumerate(projects)}
    record_project = np.concatenate(
        [
            np.full(len(d), index[p], dtype=np.int64)
            for d, (p, _) in zip(datasets, keys, strict=True)
        ]
    )
    groups = np.concatenate(result.group_of)
    # A group spans projects when its records' project indices are not all the same.
    low = np.full(result.n_groups, len(projects), dtype=np.int64)
    high = np.full(result.n_groups, -1, dtype=np.int64)
    np.minimum.at(low, groups, record_project)
    np.maximum.at(high, groups, record_project)
    spanning = np.flatnonzero(low != high)
    link_id = {int(g): new_id() for g in spanning}
    rows: list[dict] = []
    per_project = {p: {"records": 0, "linked": 0} for p in projects}
    for d, ((pid, body), group_of) in enumerate(zip(keys, result.group_of, strict=True)):
        per_project[pid]["records"] += len(group_of)
        for i in np.flatnonzero(np.isin(group_of, spanning)):
            rows.append(
                {
                    "run_id": rid,
                    "link": link_id[int(group_of[i])],
                    "project_id": pid,
                    "body": body,
                    "ref": refs[d][i],
                }
            )
            per_project[pid]["linked"] += 1
    return rows, {"linked_groups": len(link_id), "projects": per_project}


def _store(
    factory: sessionmaker[Session], rid: str, xid: str, rows: list[dict], stats: dict
) -> None:
    """Write the rows and mark the run done in one transaction, unless the cross-link was
    withdrawn (or the run cancelled) meanwhile: then nothing is stored."""
    with factory() as session, session.begin():
        crosslink = session.execute(
            select(CrossLink).where(CrossLink.id == xid).with_for_update()
        ).scalar()
        run = session.get(CrossRun, rid)
        if (
            crosslink is None
            or run is None
            or crosslink.status != "open"
            or run.status != "running"
        ):
            return
        session.execute(delete(CrossLinkRow).where(CrossLinkRow.run_id == rid))
        for start in range(0, len(rows), 20_000):
            session.execute(insert(CrossLinkRow), rows[start : start + 20_000])
        run.status = "done"
        run.stats = stats
        run.finished_at = utcnow()
        # Each member's log gets its own counts only, plus the shared number of links.
        for pid in _members(session, xid):
            audit.append(
                session,
                actor="system",
                action="crosslink.run.done",
                project_id=pid,
                detail={
                    "crosslink": xid,
                    "run": rid,
                    "linked_groups": stats["linked_groups"],
                    **(stats["projects"].get(pid) or {}),
                },
            )


def _fail(factory: sessionmaker[Session], rid: str, xid: str, error: str) -> None:
    with factory() as session, session.begin():
        session.execute(
            update(CrossRun)
            .where(CrossRun.id == rid, CrossRun.status == "running")
            .values(status="failed", error=error, finished_at=utcnow())
        )
        _audit_members(session, xid, "crosslink.run.failed", {"crosslink": xid, "run": rid})


def apply_cross_retention(factory: sessionmaker[Session], settings: Settings) -> int:
    """Delete cross uploads older than the retention period (as for project uploads)."""
    seconds = settings.retention_seconds
    if seconds is None:
        return 0
    cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
    with factory() as session, session.begin():
        old = list(
            session.execute(select(CrossUpload).where(CrossUpload.created_at < cutoff)).scalars()
        )
        for upload in old:
            session.delete(upload)
            audit.append(
                session,
                actor="system",
                action="crosslink.encodings.deleted.retention",
                project_id=upload.project_id,
                detail={"crosslink": upload.crosslink_id, "upload": upload.id},
            )
    for upload in old:
        (cross_dir(settings) / upload.file_name).unlink(missing_ok=True)
    return len(old)
