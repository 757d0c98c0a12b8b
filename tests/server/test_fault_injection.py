"""Fault injection: SIGKILL of the server during an upload, during a run's linkage and
during its token writing, on SQLite and PostgreSQL; after each restart nothing is lost and
the run completes (issue 12).

The kills land in the intended phase deterministically: an upload is held open by the
client; for a run, the server is frozen (SIGSTOP) while the test reads the database, and
killed only if the frozen state is the phase wanted, otherwise let go (SIGCONT) for a
moment and looked at again.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from server_process import ServerProcess, backend_param
from server_testdata import binary_bytes, bodies_data, encodings
from server_testkit import wait_run
from sqlalchemy import Engine, create_engine, text

N_SHARED, N_OWN = 2000, 10500  # 12,500 records per body: the token rows take two batches
TOTAL = 2 * (N_SHARED + N_OWN)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from backend_param(request.param)


def _run_state(engine: Engine, rid: str) -> tuple[str, int]:
    with engine.connect() as conn:
        status = conn.execute(text("select status from runs where id = :r"), {"r": rid}).scalar()
        rows = conn.execute(
            text("select count(*) from token_rows where run_id = :r"), {"r": rid}
        ).scalar()
    return str(status), int(rows or 0)


def _kill_when(
    proc: ServerProcess, engine: Engine, rid: str, wanted: Callable[[str, int], bool]
) -> tuple[str, int]:
    """Freeze the server, look at the run; SIGKILL when ``wanted(status, token rows)``."""
    assert proc.proc is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        proc.proc.send_signal(signal.SIGSTOP)
        try:
            state = _run_state(engine, rid)
            if wanted(*state):
                proc.kill()
                return state
            assert state[0] != "done", f"the run finished before the phase was caught: {state}"
        finally:
            if proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError("the run never reached the phase")


def _restart(proc: ServerProcess) -> None:
    proc.start()
    assert not list((proc.data_dir / "uploads" / "tmp").iterdir())  # crash leftovers gone


@pytest.mark.slow
def test_sigkill_during_upload_run_and_token_writing(tmp_path: Path, db_url: str | None) -> None:
    data = tmp_path / "data"
    proc = ServerProcess(data, db_url, tmp_path / "server.log")
    engine = create_engine(db_url or f"sqlite:///{data / 'kakehashi.db'}")
    proc.start()
    try:
        with proc.client(proc.operator) as c:
            project = c.post("/api/v1/projects", json={"name": "p", "bodies": ["a", "b"]}).json()
        pid, creds = project["project_id"], project["credentials"]
        encs = [encodings(x) for x in bodies_data(7, N_SHARED, N_OWN)]
        files = [binary_bytes(e) for e in encs]
        with proc.client(creds["bodies"]["a"]) as c:
            r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"},
                       content=files[0])  # fmt: skip
            assert r.status_code == 201, r.text

        # 1. kill -9 while body b's upload is half received
        half, release = threading.Event(), threading.Event()

        def stalled() -> Iterator[bytes]:
            yield files[1][: len(files[1]) // 2]
            half.set()
            release.wait(60)
            yield files[1][len(files[1]) // 2 :]

        def send() -> None:
            try:
                with proc.client(creds["bodies"]["b"]) as c:
                    c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"},
                           content=stalled())  # fmt: skip
            except httpx.HTTPError:
                pass  # the server died under it

        sender = threading.Thread(target=send)
        sender.start()
        assert half.wait(60)
        tmp = data / "uploads" / "tmp"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in tmp.glob("*.raw")):
            assert time.monotonic() < deadline, "the server never started receiving"
            time.sleep(0.01)
        proc.kill()
        release.set()
        sender.join(60)
        _restart(proc)
        with proc.client(creds["coordinator"]) as c:
            counts = c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]
        assert counts == {"a": N_SHARED + N_OWN, "b": 0}  # a's kept, nothing partial of b's
        with proc.client(creds["bodies"]["b"]) as c:
            r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"},
                       content=files[1])  # fmt: skip
            assert r.status_code == 201, r.text

        # 2. kill -9 during the linkage of a run (running, no token row written yet)
        with proc.client(creds["coordinator"]) as c:
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        status, rows = _kill_when(proc, engine, rid, lambda s, n: s == "running" and n == 0)
        assert (status, rows) == ("running", 0)
        _restart(proc)
        with proc.client(creds["coordinator"]) as c:
            assert wait_run(c, pid, rid, timeout=300)["status"] == "done"
            first = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"})
        first_rows = {(b, r): t for t, b, r in first.json()["rows"]}
        assert len(first_rows) == TOTAL

        # 3. kill -9 while the next run writes its token rows (some written, not all)
        with proc.client(creds["coordinator"]) as c:
            rid2 = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        status, rows = _kill_when(proc, engine, rid2, lambda s, n: s == "running" and n > 0)
        assert status == "running" and 0 < rows < TOTAL
        _restart(proc)
        with proc.client(creds["coordinator"]) as c:
            final = wait_run(c, pid, rid2, timeout=300)
            assert final["status"] == "done", final
            assert final["stats"]["tokens_kept"] == final["stats"]["groups"]  # same data
            table = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"})
            entries = c.get(f"/api/v1/projects/{pid}/audit", params={"limit": 10000}).json()
        second_rows = {(b, r): t for t, b, r in table.json()["rows"]}
        assert len(table.json()["rows"]) == TOTAL  # no duplicate or missing row
        assert second_rows == first_rows  # stable tokens: nothing lost, nothing changed
        assert {r for b, r in second_rows if b == "b"} == set(encs[1].refs)
        actions = [e["action"] for e in entries["entries"]]
        assert actions.count("run.requeued") == 2 and actions.count("run.done") == 2
        with proc.client(creds["bodies"]["a"]) as c:
            mapping = c.get(f"/api/v1/projects/{pid}/results/mapping", params={"format": "json"})
        assert {ref for ref, _ in mapping.json()["rows"]} == set(encs[0].refs)
    finally:
        proc.stop()
        engine.dispose()
    verify = proc.cli("audit", "verify")
    assert verify.returncode == 0, verify.stderr
