"""Consistency of uploads, runs and results (issue 12, items 9 and 14-17), on a live server
with SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from server_testdata import binary_bytes, bodies_data, encodings, random_clks
from server_testkit import LiveServer, wait_run
from sqlalchemy import delete, func, select

from server.db.models import Run, TokenRow
from server.worker import Worker


def _upload(live: LiveServer, cred: str, pid: str, data: bytes, mode: str) -> httpx.Response:
    with live.client(cred) as c:
        return c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": mode}, content=data)


def _app_state(live: LiveServer):  # the in-process app behind the live server
    return live._server.config.app.state


def _count(live: LiveServer, cred: str, pid: str, body: str) -> int:
    with live.client(cred) as c:
        return int(c.get(f"/api/v1/projects/{pid}").json()["upload_counts"][body])


# -- item 14: a replace while a run starts -----------------------------------------------------
def test_replace_after_queueing_does_not_break_the_run(make_live) -> None:
    """Deterministic order of the race: the run is queued, the body replaces its upload
    (the old file is deleted), and only then does the worker read the run's inputs."""
    live = make_live(run_worker=False)
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    school, welfare = bodies_data(3, 20, 10)
    assert _upload(live, creds["bodies"]["school"], pid, binary_bytes(encodings(school)), "replace")
    assert _upload(
        live, creds["bodies"]["welfare"], pid, binary_bytes(encodings(welfare)), "replace"
    )
    uploads_dir = live.settings.uploads_dir
    before = {p.name for p in uploads_dir.glob("*.rec")}
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"]
    rng = np.random.default_rng(9)
    replaced = _upload(
        live,
        creds["bodies"]["school"],
        pid,
        binary_bytes(encodings(random_clks(rng, 5))),
        "replace",
    )
    assert replaced.status_code == 201
    assert not before <= {p.name for p in uploads_dir.glob("*.rec")}  # old file is gone

    state = _app_state(live)
    worker = Worker(state.sessionmaker, live.settings)
    assert worker.run_next()
    with live.client(creds["coordinator"]) as c:
        status = c.get(f"/api/v1/projects/{pid}/runs/{rid}").json()
    assert status["status"] == "done", status
    # the run saw the uploads as they were when it was queued: 30 + 30 records
    assert status["stats"]["records"] == 60
    # its snapshot is collected once it has finished; the current upload is untouched
    assert not (uploads_dir / "runs" / rid).exists()
    assert _count(live, creds["bodies"]["school"], pid, "school") == 5


def test_snapshot_of_a_cancelled_queued_run_is_collected(make_live) -> None:
    live = make_live(run_worker=False)
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    for body, clks in zip(("school", "welfare"), bodies_data(4, 5, 5), strict=True):
        _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"]
        assert (live.settings.uploads_dir / "runs" / rid / "manifest.json").exists()
        c.post(f"/api/v1/projects/{pid}/runs/{rid}/cancel")
    Worker(_app_state(live).sessionmaker, live.settings).collect_snapshots()
    assert not (live.settings.uploads_dir / "runs" / rid).exists()


def test_snapshot_of_a_run_not_yet_committed_is_kept(make_live) -> None:
    """start_run links its files before its transaction commits; collection must not
    remove that folder (the race made POST /runs fail with FileNotFoundError)."""
    from server.storage import ORPHAN_GRACE_SECONDS

    live = make_live(run_worker=False)
    pending = live.settings.uploads_dir / "runs" / ("f" * 32)  # no such run is visible
    pending.mkdir(parents=True)
    (pending / "a.rec").write_bytes(b"")
    worker = Worker(_app_state(live).sessionmaker, live.settings)
    worker.collect_snapshots()
    assert pending.exists()
    old = time.time() - ORPHAN_GRACE_SECONDS - 1  # an orphan left by a crash
    os.utime(pending, (old, old))
    worker.collect_snapshots()
    assert not pending.exists()


# -- item 15: replace with a file uploaded before ------------------------------------------
def test_replace_with_an_earlier_file_replaces(live: LiveServer) -> None:
    project = live.new_project()
    pid, cred = project["project_id"], project["credentials"]["bodies"]["school"]
    rng = np.random.default_rng(15)
    a = binary_bytes(encodings(random_clks(rng, 6)))
    b = binary_bytes(encodings(random_clks(rng, 4)))
    assert _upload(live, cred, pid, a, "replace").status_code == 201
    assert _upload(live, cred, pid, b, "append").status_code == 201
    assert _count(live, cred, pid, "school") == 10
    again = _upload(live, cred, pid, a, "replace")
    assert again.status_code == 201 and again.json()["duplicate"] is False
    assert _count(live, cred, pid, "school") == 6
    # replacing A with A (the body's only upload) is a no-op, reported as a duplicate
    same = _upload(live, cred, pid, a, "replace")
    assert same.json()["duplicate"] is True and _count(live, cred, pid, "school") == 6


# -- item 16: stale results, missing bodies, a lost server -----------------------------------
def test_results_say_when_they_are_stale(live: LiveServer) -> None:
    project = live.new_project(("school", "welfare", "health"))
    pid, creds = project["project_id"], project["credentials"]
    school, welfare = bodies_data(16, 10, 5)
    for body, clks in (("school", school), ("welfare", welfare)):
        assert _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
    with live.client(creds["coordinator"]) as c:
        started = c.post(f"/api/v1/projects/{pid}/runs").json()
        assert any("health" in w for w in started["warnings"])
        status = wait_run(c, pid, started["run_id"])
        assert status["status"] == "done"
        assert status["stats"]["missing_bodies"] == ["health"]
        assert any("health" in w for w in status["warnings"])
        fresh = c.get(f"/api/v1/projects/{pid}/results/tokens")
        assert fresh.headers["x-kakehashi-stale"] == "false"
        assert fresh.headers["x-kakehashi-run-id"] == started["run_id"]
    rng = np.random.default_rng(16)
    more = binary_bytes(encodings(random_clks(rng, 3)))
    assert _upload(live, creds["bodies"]["health"], pid, more, "append").status_code == 201
    for cred, path in (
        (creds["coordinator"], "tokens"),
        (creds["bodies"]["school"], "mapping"),
    ):
        with live.client(cred) as c:
            r = c.get(f"/api/v1/projects/{pid}/results/{path}", params={"format": "json"})
        assert r.status_code == 200
        assert r.headers["x-kakehashi-stale"] == "true"
        assert r.headers["x-kakehashi-last-upload"] > r.headers["x-kakehashi-run-created"]


def _kakehashi(*args: str) -> list[str]:
    return [sys.executable, "-m", "kakehashi", *args]


def test_cli_results_warn_when_stale(live: LiveServer, tmp_path: Path) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    for body, clks in zip(("school", "welfare"), bodies_data(17, 8, 4), strict=True):
        _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
    cred_file = tmp_path / "school.credential"
    cred_file.write_text(creds["bodies"]["school"])
    with live.client(creds["coordinator"]) as c:
        wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"])
    rng = np.random.default_rng(17)
    _upload(
        live,
        creds["bodies"]["welfare"],
        pid,
        binary_bytes(encodings(random_clks(rng, 2))),
        "append",
    )
    done = subprocess.run(
        _kakehashi(
            "results",
            "--server",
            live.url,
            "--project",
            pid,
            "--credential",
            str(cred_file),
            "--mine",
            "--out",
            str(tmp_path / "mapping.csv"),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "stale" in done.stdout and "start a new run" in done.stdout


def test_cli_run_that_loses_the_server_prints_the_run_id(make_live, tmp_path: Path) -> None:
    live = make_live(run_worker=False)  # the run stays queued until the server goes away
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    for body, clks in zip(("school", "welfare"), bodies_data(18, 5, 5), strict=True):
        _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
    cred_file = tmp_path / "coordinator.credential"
    cred_file.write_text(creds["coordinator"])
    proc = subprocess.Popen(
        _kakehashi("run", "--server", live.url, "--project", pid, "--credential", str(cred_file)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    # Wait until the CLI has queued its run. A fresh session per look, closed before the
    # sleep: on SQLite every transaction of the app's engine takes the write lock (BEGIN
    # IMMEDIATE), and holding it while sleeping starved the CLI's POST /runs.
    rid = None
    for _ in range(600):
        with _app_state(live).sessionmaker() as session:
            rid = session.execute(select(Run.id).where(Run.project_id == pid)).scalar()
        if rid is not None:
            break
        time.sleep(0.1)
    assert rid is not None
    live.stop()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, (stdout, stderr)
    assert f"run {rid} started" in stdout
    assert "lost the server" in stdout and f"--run-id {rid}" in stdout


# -- item 17: superseded token rows and the SQLite WAL ---------------------------------------
def test_runs_prune_superseded_token_rows_and_truncate_the_wal(make_live) -> None:
    # Runs are executed here, with no request in between.
    live = make_live(run_worker=False, token_tables_kept=1)
    worker = Worker(_app_state(live).sessionmaker, live.settings)
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    wal = live.settings.data_dir / "kakehashi.db-wal"
    rids = []
    for seed in (20, 21, 22):
        for body, clks in zip(("school", "welfare"), bodies_data(seed, 30, 10), strict=True):
            _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
        with live.client(creds["coordinator"]) as c:
            rids.append(c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"])
        assert worker.run_next()
        if live.backend == "sqlite":
            assert wal.stat().st_size == 0  # checkpointed and truncated after the run
    with live.client(creds["coordinator"]) as c:
        assert [r["status"] for r in c.get(f"/api/v1/projects/{pid}/runs").json()] == ["done"] * 3
    with _app_state(live).sessionmaker() as session:
        per_run = dict(
            session.execute(
                select(TokenRow.run_id, func.count())
                .where(TokenRow.run_id.in_(rids))
                .group_by(TokenRow.run_id)
            ).all()
        )
    assert per_run == {rids[-1]: 80}  # only the served run's table is left


def test_token_tables_kept_default_keeps_the_previous_table(make_live) -> None:
    live = make_live(run_worker=False)  # default 2: a download of the previous run can finish
    worker = Worker(_app_state(live).sessionmaker, live.settings)
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rids = []
    for seed in (23, 24, 25):
        for body, clks in zip(("school", "welfare"), bodies_data(seed, 5, 5), strict=True):
            _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
        with live.client(creds["coordinator"]) as c:
            rids.append(c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"])
        worker.run_next()
    with _app_state(live).sessionmaker() as session:
        kept = set(session.execute(select(TokenRow.run_id).distinct()).scalars())
    assert kept == set(rids[1:])


def test_a_download_pruned_mid_stream_breaks_off_instead_of_ending_short(
    make_live, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.api.routes import results

    live = make_live(run_worker=False)
    worker = Worker(_app_state(live).sessionmaker, live.settings)
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    for body, clks in zip(("school", "welfare"), bodies_data(26, 30, 10), strict=True):
        _upload(live, creds["bodies"][body], pid, binary_bytes(encodings(clks)), "replace")
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs").json()["run_id"]
    assert worker.run_next()
    factory = _app_state(live).sessionmaker
    monkeypatch.setattr(results, "_PAGE", 10)
    whole = list(results._rows(factory, rid, None))
    assert len(whole) == 80
    stream = results._rows(factory, rid, None)
    first_page = [next(stream) for _ in range(10)]
    assert len(first_page) == 10
    with factory() as session, session.begin():  # what pruning does between two pages
        session.execute(delete(TokenRow).where(TokenRow.run_id == rid))
    with pytest.raises(results.TableChanged):
        list(stream)


# -- item 9: values PostgreSQL cannot hold ---------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/projects", {"name": "x", "bodies": ["a" * 201, "b"]}),
        ("POST", "/api/v1/projects", {"name": "x" * 201, "bodies": ["a", "b"]}),
        ("POST", "/api/v1/projects", {"name": "x\u0000y", "bodies": ["a", "b"]}),
        ("POST", "/api/v1/projects", {"name": "x", "bodies": ["a\u0000", "b"]}),
        ("POST", "/api/v1/projects", {"name": "x", "bodies": ["a", "b"], "dedup_bodies": ["\0"]}),
        ("POST", "/api/v1/projects/ab%00cd/close", None),
        ("GET", "/api/v1/projects/ab%00cd", None),
        ("GET", "/api/v1/projects/ab%00cd/runs", None),
        ("POST", "/api/v1/projects/ab%00cd/uploads?mode=append", None),
        ("DELETE", "/api/v1/credentials/ab%00cd", None),
        ("GET", "/api/v1/projects/" + "a" * 5000, None),
    ],
)
def test_values_the_database_cannot_hold_are_client_errors(
    live: LiveServer, method: str, path: str, body: dict | None
) -> None:
    with live.client(live.operator) as c:
        r = c.request(method, path, json=body) if body is not None else c.request(method, path)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_nul_in_a_run_id_is_not_found(live: LiveServer) -> None:
    project = live.new_project()
    pid, coord = project["project_id"], project["credentials"]["coordinator"]
    with live.client(coord) as c:
        assert c.get(f"/api/v1/projects/{pid}/runs/ab%00cd").status_code == 404
        assert c.post(f"/api/v1/projects/{pid}/runs/ab%00cd/cancel").status_code == 404


def test_audit_after_beyond_64_bits_is_a_client_error(live: LiveServer) -> None:
    """Found by the long schemathesis run: ``after=10**30`` overflowed SQLite's integer."""
    project = live.new_project()
    pid, coord = project["project_id"], project["credentials"]["coordinator"]
    with live.client(coord) as c:
        r = c.get(f"/api/v1/projects/{pid}/audit", params={"after": 10**30})
    assert r.status_code == 422 and "after" in r.json()["detail"]
