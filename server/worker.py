"""Durable background runs: a job table in the database and one worker thread.

Runs are claimed from the ``runs`` table (``queued`` → ``running``). On startup, runs left
``running`` by a process that died are put back to ``queued`` and run again from the
start; a run's results are written in one transaction, so a crashed run leaves nothing
partial behind. The worker also applies the retention period to uploaded encodings.
"""

from __future__ import annotations

import itertools
import logging
import re
import resource
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from linkage.errors import LinkageError
from server.core import audit
from server.core.config import Settings
from server.crosslink_runs import apply_cross_retention, run_next_crosslink
from server.db.models import LinkEvent, Project, ReviewOutcome, Run, TokenRow, Upload, utcnow
from server.delta_run import drop_states, link_run
from server.family_run import delete_family_before, run_family
from server.signals_store import delete_signals_before
from server.storage import (
    collect_snapshots,
    hex_to_rows,
    match_rows,
    read_body,
    read_snapshot,
    refs_to_hex,
    row_order,
    snapshot_dir,
    take_snapshot,
    unique_rows,
)

_log = logging.getLogger("kakehashi.server.worker")
_BATCH = 20_000
_READ_BATCH = 50_000
_HEX_REF = re.compile(r"[0-9a-f]{32}")


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_peak_rss() -> bool:
    """Start a new peak-RSS window for this process (Linux ≥ 4.0); False where not possible."""
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets only the peak (VmHWM), nothing else
    except OSError:
        return False
    return True


def _rss_mb(field: str = "VmHWM") -> float:
    """This process's resident memory in MB from /proc: the peak since the last reset
    (VmHWM) or now (VmRSS); where /proc is not readable, the peak since the process
    started (``ru_maxrss``)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _StageClock:
    """Wall seconds of a run's stages and the process's peak RSS during each.

    Where Linux lets the process reset its peak-RSS mark, each stage's peak is its own
    (``peak_rss_window`` "stage"); otherwise it is the process's peak so far ("process").
    A stage's own memory is its peak less the resident memory when it began. The figures
    are for the whole server process (API requests served meanwhile count).
    """

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.cpu_last = time.process_time()
        self.cpu: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self.rss: dict[str, float] = {"start": _rss_mb("VmRSS")}
        self.per_stage = _reset_peak_rss()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self.last, 3)
        cpu = time.process_time()
        self.cpu[stage] = round(cpu - self.cpu_last, 3)
        self.cpu_last = cpu
        self.peak[stage] = _rss_mb()
        self.rss[stage] = _rss_mb("VmRSS")
        if self.per_stage:
            _reset_peak_rss()
        self.last = now

    def report(self) -> dict[str, Any]:
        total = round(time.perf_counter() - self.started, 3)
        return {
            "seconds": {**self.seconds, "total": total},
            # CPU seconds of the server process (all threads): on a loaded machine these
            # say more about a stage's cost than wall time.
            "cpu_seconds": {**self.cpu, "total": round(sum(self.cpu.values()), 3)},
            "peak_rss_mb": self.peak,
            "peak_rss_window": "stage" if self.per_stage else "process",
            # resident memory when the run started and at the end of each stage
            "rss_mb": self.rss,
        }


def _record_index(
    answers: list[Any], names: list[str], refs: list[np.ndarray]
) -> dict[tuple[str, str], int]:
    """Global index of each current record that review outcomes name: ``{(body, ref): i}``.

    Only the records the outcomes name are looked up (refs are matched as bytes), so no
    mapping of every record is built.
    """
    wanted: dict[str, set[str]] = {}
    for answer in answers:
        for part in answer.parts:
            for body, ref in part:
                if isinstance(ref, str) and _HEX_REF.fullmatch(ref):
                    wanted.setdefault(body, set()).add(ref)
    index: dict[tuple[str, str], int] = {}
    offset = 0
    for body, mine in zip(names, refs, strict=True):
        asked = sorted(wanted.get(body, ()))
        if asked:
            at = match_rows(hex_to_rows(asked), mine)
            index.update(
                ((body, ref), offset + i)
                for ref, i in zip(asked, at.tolist(), strict=True)
                if i >= 0
            )
        offset += len(mine)
    return index


def _row_writer(factory: sessionmaker[Session]) -> Any:
    """A function writing token rows ``(run_id, body, ref, token, review)`` in a session.

    PostgreSQL: ``COPY ... FROM STDIN`` (psycopg 3), the fastest way in. SQLite: one
    ``executemany`` of plain tuples through the driver, with no ORM or Core statement
    building per row. Anything else: Core ``insert`` with dictionaries.
    """
    dialect = factory.kw["bind"].dialect.name
    columns = ("run_id", "body", "ref", "token", "review")
    table = TokenRow.__tablename__

    def copy(session: Session, rows: Iterable[tuple]) -> None:
        driver = session.connection().connection.driver_connection
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as out:  # type: ignore[union-attr]
            for row in rows:
                out.write_row(row)

    def executemany(session: Session, rows: Iterable[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        session.connection().exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows)
        )

    def core(session: Session, rows: Iterable[tuple]) -> None:
        session.execute(insert(TokenRow), [dict(zip(columns, r, strict=True)) for r in rows])

    return {"postgresql": copy, "sqlite": executemany}.get(dialect, core)


class Cancelled(Exception):
    """The coordinator cancelled the run."""


def requeue_interrupted(factory: sessionmaker[Session]) -> int:
    """Put runs left ``running`` by a crashed process back in the queue; return how many."""
    with factory() as session, session.begin():
        stuck = session.execute(select(Run.id, Run.project_id).where(Run.status == "running")).all()
        ids = [rid for rid, _ in stuck]
        if ids:
            session.execute(
                update(Run).where(Run.id.in_(ids)).values(status="queued", progress=0.0)
            )
            for rid, pid in stuck:
                audit.append(
                    session,
                    actor="system",
                    action="run.requeued",
                    project_id=pid,
                    detail={"run": rid},
                )
    if ids:
        _log.info("re-queued interrupted runs", extra={"runs": len(ids)})
    return len(ids)


def delete_encodings(session: Session, uploads: list[Upload], uploads_dir: Path) -> list[Path]:
    """Delete upload rows in ``session``; return their files to unlink after commit."""
    files = [uploads_dir / u.file_name for u in uploads]
    if uploads:
        session.execute(delete(Upload).where(Upload.id.in_([u.id for u in uploads])))
    return files


class Worker:
    """Runs queued linkage jobs one at a time in a daemon thread."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kakehashi-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.apply_retention()
                apply_cross_retention(self.factory, self.settings)
                self.collect_snapshots()  # e.g. of runs cancelled while queued
                while not self._stop.is_set() and (
                    self.run_next() or run_next_crosslink(self.factory, self.settings)
                ):
                    pass
            except Exception as exc:  # keep the worker alive; the run itself records errors
                _log.error("worker loop error", extra={"error_type": type(exc).__name__})
            self._wake.wait(self.settings.worker_poll_seconds)
            self._wake.clear()

    # -- retention ---------------------------------------------------------------------
    def apply_retention(self) -> int:
        """Delete encodings older than the retention period; return how many uploads."""
        seconds = self.settings.retention_seconds
        if seconds is None:
            return 0
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        with self.factory() as session, session.begin():
            for pid, n in delete_signals_before(session, cutoff).items():
                audit.append(
                    session,
                    actor="system",
                    action="signals.deleted.retention",
                    project_id=pid,
                    detail={"uploads": n, "retention_days": self.settings.retention_days},
                )
            for pid, n in delete_family_before(session, cutoff).items():
                audit.append(
                    session,
                    actor="system",
                    action="family.deleted.retention",
                    project_id=pid,
                    detail={"uploads": n, "retention_days": self.settings.retention_days},
                )
            old = list(session.execute(select(Upload).where(Upload.created_at < cutoff)).scalars())
            if not old:
                return 0
            by_project: dict[str, int] = {}
            for upload in old:
                by_project[upload.project_id] = by_project.get(upload.project_id, 0) + 1
            files = delete_encodings(session, old, self.settings.uploads_dir)
            for pid, n in by_project.items():
                drop_states(self.settings.uploads_dir, pid)  # their pairs too: next run full
                audit.append(
                    session,
                    actor="system",
                    action="encodings.deleted.retention",
                    project_id=pid,
                    detail={"uploads": n, "retention_days": self.settings.retention_days},
                )
        for path in files:
            path.unlink(missing_ok=True)
        _log.info("retention deleted encodings", extra={"uploads": len(old)})
        return len(old)

    # -- runs --------------------------------------------------------------------------
    def run_next(self) -> bool:
        """Claim and execute one queued run; False when none is queued."""
        with self.factory() as session, session.begin():
            run = session.execute(
                select(Run).where(Run.status == "queued").order_by(Run.created_at).limit(1)
            ).scalar()
            if run is None:
                return False
            claimed = session.execute(
                update(Run)
                .where(Run.id == run.id, Run.status == "queued")
                .values(
                    status="running",
                    started_at=utcnow(),
                    progress=0.0,
                    attempts=Run.attempts + 1,
                )
            ).rowcount
            rid, pid = run.id, run.project_id
        if not claimed:
            return True
        _log.info("run started", extra={"run": rid, "project": pid})
        try:
            self._execute(rid, pid)
        except Cancelled:
            self._finish(rid, "cancelled", None, None)
        except (LinkageError, ValueError) as exc:
            self._finish(rid, "failed", str(exc), None)
        except Exception as exc:
            _log.error("run crashed", extra={"run": rid, "error_type": type(exc).__name__})
            self._finish(rid, "failed", f"internal error ({type(exc).__name__})", None)
        else:
            _log.info("run done", extra={"run": rid, "project": pid})
        self._after_run(pid)
        return True

    def _finish(self, rid: str, status: str, error: str | None, stats: dict | None) -> None:
        with self.factory() as session, session.begin():
            session.execute(
                update(Run)
                .where(Run.id == rid)
                .values(status=status, error=error, finished_at=utcnow(), stats=stats)
            )
            run = session.get(Run, rid)
            audit.append(
                session,
                actor="system",
                action=f"run.{status}",
                project_id=run.project_id if run else None,
                detail={"run": rid},
            )

    def _progress(self, rid: str, value: float) -> None:
        with self.factory() as session, session.begin():
            run = session.get(Run, rid)
            if run is None or run.cancel_requested:
                raise Cancelled
            run.progress = value

    def _cancel_requested(self, session: Session, rid: str) -> bool:
        run = session.get(Run, rid)
        return run is None or bool(run.cancel_requested)

    def _delete_rows(self, table: type, condition: Any) -> None:
        """Delete matching rows in short transactions of at most _BATCH rows."""
        while True:
            with self.factory() as session, session.begin():
                ids = select(table.id).where(condition).limit(_BATCH)
                deleted = session.execute(delete(table).where(table.id.in_(ids))).rowcount
            if not deleted:
                return

    def _previous_tokens(
        self, previous: str | None, names: list[str], refs: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The previous run's token of each current record, as arrays.

        Returns ``(ids (n,) int64, tokens (t, 16) uint8)``: ``tokens`` are the previous
        run's distinct tokens sorted by their bytes; ``ids[i]`` is the row of record ``i``'s
        old token (records in body order, as ``refs``), ``-1`` for a record it did not have.
        The rows are read in id order, ``_READ_BATCH`` at a time, each batch in its own
        short transaction (on SQLite every transaction holds the write lock, and API
        requests must not wait behind a long read); a done run's rows never change, so
        the batches need no common snapshot. No Python object is kept per row.
        """
        n = sum(len(r) for r in refs)
        ids = np.full(n, -1, dtype=np.int64)
        if previous is None:
            return ids, np.empty((0, 16), dtype=np.uint8)
        number = {name: i for i, name in enumerate(names)}
        bodies, old_refs, old_tokens = [], [], []
        last = -1
        while True:
            with self.factory() as session, session.begin():
                chunk = session.execute(
                    select(TokenRow.id, TokenRow.body, TokenRow.ref, TokenRow.token)
                    .where(TokenRow.run_id == previous, TokenRow.id > last)
                    .order_by(TokenRow.id)
                    .limit(_READ_BATCH)
                ).all()
            if not chunk:
                break
            row_ids, b, r, t = zip(*chunk, strict=True)
            last = row_ids[-1]
            bodies.append(np.array([number.get(x, -1) for x in b], dtype=np.int64))
            old_refs.append(hex_to_rows(r))
            old_tokens.append(hex_to_rows(t))
            del chunk, row_ids, b, r, t
        if not bodies:
            return ids, np.empty((0, 16), dtype=np.uint8)
        body_of = np.concatenate(bodies)
        table = np.concatenate(old_refs)
        del bodies, old_refs
        tokens, inverse = unique_rows(np.concatenate(old_tokens))
        del old_tokens
        offset = 0
        for k, mine in enumerate(refs):
            rows = np.flatnonzero(body_of == k)
            if rows.size:
                at = match_rows(mine, table[rows])
                hit = at >= 0
                ids[offset : offset + len(mine)][hit] = inverse[rows[at[hit]]]
            offset += len(mine)
        return ids, tokens

    def _execute(self, rid: str, pid: str) -> dict:
        clock = _StageClock()
        inputs = read_snapshot(self.settings.uploads_dir, rid)
        if inputs is None:  # queued before runs took snapshots: take it now, under the lock
            with self.factory() as session, session.begin():
                session.execute(select(Project.id).where(Project.id == pid).with_for_update())
                inputs = take_snapshot(session, self.settings.uploads_dir, pid, rid)
        folder = snapshot_dir(self.settings.uploads_dir, rid)
        with self.factory() as session:
            project = session.get(Project, pid)
            if project is None:
                raise LinkageError("project no longer exists")
            threshold = project.threshold
            bit_length = project.bit_length
            bodies = list(project.bodies)
            dedup = set(project.dedup_bodies)
            previous = session.execute(
                select(Run.id)
                .where(Run.project_id == pid, Run.status == "done")
                .order_by(Run.finished_at.desc())
                .limit(1)
            ).scalar()
            outcomes = [
                (o.outcome, o.parts)
                for o in session.execute(
                    select(ReviewOutcome)
                    .where(ReviewOutcome.project_id == pid)
                    .order_by(ReviewOutcome.created_at, ReviewOutcome.id)
                ).scalars()
            ]
        self._progress(rid, 0.05)

        # Each body's records as arrays: refs (n, 16) and CLKs, read straight into place.
        names: list[str] = []
        datasets: list[np.ndarray] = []
        refs: list[np.ndarray] = []
        missing: list[str] = []
        for body in bodies:
            mine = [folder / e["file"] for e in inputs if e["body"] == body]
            if not mine:
                missing.append(body)
                continue
            body_refs, clks = read_body(mine, bit_length)
            names.append(body)
            refs.append(body_refs)
            datasets.append(clks)
        if len(datasets) < 2:
            raise LinkageError(
                f"a run needs encodings from at least two bodies; {len(datasets)} uploaded"
            )
        n_records = sum(len(r) for r in refs)
        prev_ids, old_tokens = self._previous_tokens(previous, names, refs)
        self._progress(rid, 0.2)
        clock.lap("load")
        # Imported here: the engine pulls in numba, which would slow every server start.
        from linkage.incremental import update_token_bytes
        from linkage.outcomes import ReviewOutcome as Answer
        from linkage.outcomes import constraints
        from server.scaleout import linker  # linkage.engine.link, or on a Dask cluster

        clock.lap("import")

        # What people found in earlier reviews: known links kept together, known
        # non-links kept apart, answered records not flagged again.
        answers = [
            Answer(kind, tuple(tuple((b, r) for b, r in part) for part in parts))
            for kind, parts in outcomes
        ]
        known = constraints(answers, _record_index(answers, names, refs), n_records)
        # Incremental (only new/changed records compared) when the previous done run left
        # its pairs; else a full link, in process or on a Dask cluster. See
        # server/delta_run.py and server/scaleout.py.
        result, link_stats, save_pairs = link_run(
            self.settings.uploads_dir, pid, rid, previous, names, refs, datasets,
            threshold=threshold, dedup=dedup, known=known, full_link=linker(self.settings),
        )  # fmt: skip
        del datasets  # the CLKs are not needed any more
        self._progress(rid, 0.8)
        clock.lap("link")
        link_seconds = {
            k.removeprefix("seconds_"): round(v, 3)
            for k, v in result.stats.items()
            if k.startswith("seconds_")
        }

        groups = np.concatenate(result.group_of)
        update = update_token_bytes(prev_ids, old_tokens, groups, result.n_groups)
        del prev_ids, old_tokens
        events = [("merge", list(m.merged), [m.token]) for m in update.merges] + [
            ("split", [s.token], list(s.into)) for s in update.splits
        ]
        stats = {
            "records": n_records,
            "bodies": len(names),
            "groups": int(result.n_groups),
            "linked_groups": int(np.count_nonzero(np.bincount(groups) > 1)),
            "review_groups": int(np.count_nonzero(result.review)),
            "tokens_kept": int(result.n_groups - update.n_new),
            "merges": len(update.merges),
            "splits": len(update.splits),
            "known_links": int(known.must_link[0].size),
            "known_non_links": int(known.cannot_link[0].size),
            "constraint_conflicts": int(result.stats.get("constraint_conflicts", 0)),
            # Bodies of the project with no upload in this run's snapshot (a warning).
            "missing_bodies": missing,
            **link_stats,
        }
        self._progress(rid, 0.9)
        clock.lap("tokens")
        # Token rows go in short transactions of _BATCH rows each, so the SQLite write lock
        # is never held for long and API requests (each writes an audit entry) keep being
        # served during a large run. Rows of an unfinished run are invisible: results are
        # read from the newest run whose status is "done", which the last transaction sets.
        # A crashed run is re-run from scratch and first deletes whatever it had written.
        self._delete_rows(TokenRow, TokenRow.run_id == rid)
        self._delete_rows(LinkEvent, LinkEvent.run_id == rid)
        review = result.review[groups]
        body_of = np.repeat(np.arange(len(names)), [len(r) for r in refs])
        all_refs = np.concatenate(refs)
        # Rows go in by (body, ref): the (run, body, ref) index then grows at its end
        # instead of at random places, which on SQLite roughly halves the writing time.
        starts = np.cumsum([0] + [len(r) for r in refs[:-1]])
        order = np.concatenate([s + row_order(r) for s, r in zip(starts, refs, strict=True)])
        del refs
        write = _row_writer(self.factory)
        for start in range(0, n_records, _BATCH):
            part = order[start : start + _BATCH]
            rows = zip(
                itertools.repeat(rid),
                [names[i] for i in body_of[part].tolist()],
                refs_to_hex(all_refs[part]),
                refs_to_hex(update.group_tokens[groups[part]]),
                review[part].tolist(),
                strict=False,  # the first is endless
            )
            with self.factory() as session, session.begin():
                if self._cancel_requested(session, rid):
                    raise Cancelled
                write(session, rows)
        clock.lap("write")
        save_pairs()

        def children() -> tuple[list[tuple[str, str]], list[str]]:
            # (body, ref) and token of each record, for the family step; built only when
            # a body uploaded a family file.
            hex_refs = refs_to_hex(all_refs)
            owners = [(names[b], r) for b, r in zip(body_of.tolist(), hex_refs, strict=True)]
            return owners, refs_to_hex(update.group_tokens[groups])

        # Guardians, households, pregnancy → child (issue 16); tokens only, before "done".
        family = run_family(self.factory, rid, pid, children, threshold)
        if family:
            stats["family"] = family
        clock.lap("family")
        audited = dict(stats)
        stats.update(clock.report(), link_seconds=link_seconds)
        with self.factory() as session, session.begin():
            run = session.get(Run, rid)
            if run is None or run.cancel_requested:
                raise Cancelled
            if events:
                session.execute(
                    insert(LinkEvent),
                    [
                        {"run_id": rid, "kind": k, "old_tokens": o, "new_tokens": n}
                        for k, o, n in events
                    ],
                )
            run.status = "done"
            run.progress = 1.0
            run.stats = stats
            run.finished_at = utcnow()
            audit.append(
                session,
                actor="system",
                action="run.done",
                project_id=pid,
                detail={"run": rid, **audited},
            )
        return stats

    # -- housekeeping after a run ----------------------------------------------------------
    def prune_token_rows(self, pid: str) -> int:
        """Delete the token rows no download can reach any more; return how many runs' rows.

        Results are served from the newest finished run, so the rows of superseded done
        runs (beyond the newest ``token_tables_kept``) and of failed or cancelled runs
        (partial tables) are dead weight. Queued and running runs are never touched.
        """
        keep = max(1, self.settings.token_tables_kept)
        with self.factory() as session:
            done = list(
                session.execute(
                    select(Run.id)
                    .where(Run.project_id == pid, Run.status == "done")
                    .order_by(Run.finished_at.desc(), Run.created_at.desc())
                ).scalars()
            )
            ended = list(
                session.execute(
                    select(Run.id).where(
                        Run.project_id == pid, Run.status.in_(("failed", "cancelled"))
                    )
                ).scalars()
            )
        dead = done[keep:] + ended
        for dead_id in dead:
            self._delete_rows(TokenRow, TokenRow.run_id == dead_id)
        return len(dead)

    def checkpoint(self) -> tuple[int, int, int] | None:
        """SQLite: fold the write-ahead log into the database and truncate it to zero bytes.

        A large run writes its token rows through the WAL; without a TRUNCATE checkpoint the
        file keeps its peak size (hundreds of MB for 0.5 M rows) for the life of the process.
        Returns SQLite's ``(busy, log pages, checkpointed pages)``, or None on PostgreSQL.
        """
        engine = self.factory.kw["bind"]
        if engine.dialect.name != "sqlite" or not self.settings.sqlite_checkpoint:
            return None
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            row = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        result = (int(row[0]), int(row[1]), int(row[2]))
        _log.info("wal checkpoint", extra={"busy": result[0], "pages": result[1]})
        return result

    def collect_snapshots(self) -> int:
        """Remove input snapshots of runs that have finished (or never will run)."""
        with self.factory() as session:
            return collect_snapshots(session, self.settings.uploads_dir)

    def _after_run(self, pid: str) -> None:
        try:
            self.prune_token_rows(pid)
            self.collect_snapshots()
            self.checkpoint()
        except Exception as exc:  # housekeeping never fails a run
            _log.error("housekeeping error", extra={"error_type": type(exc).__name__})
