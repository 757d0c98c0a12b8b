"""SQLite under write contention: a request that cannot get the write lock within the busy
timeout is answered 503 with Retry-After (nothing stored), never a bare 500.

Real uvicorn server on a real SQLite file; the contention comes from real writers: another
connection holding the write lock, and many threads uploading at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from server_testdata import binary_bytes, encodings, random_clks
from server_testkit import LiveServer, make_settings, start_server
from sqlalchemy.engine import make_url


def _server(tmp_path: Path, busy_timeout: float) -> LiveServer:
    settings = make_settings(
        tmp_path / "data", None, sqlite_busy_timeout_seconds=busy_timeout, run_worker=False
    )
    return start_server(settings, "sqlite")


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that waits only 0.2 s for the write lock."""
    server = _server(tmp_path, 0.2)
    try:
        yield server
    finally:
        server.stop()


def _db_path(live: LiveServer) -> str:
    database = make_url(live.settings.resolved_database_url).database
    assert database
    return database


def _replace_upload(quick: LiveServer, body: str, pid: str, data: bytes) -> httpx.Response:
    with quick.client(body) as c:
        return c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"},
                      content=data)  # fmt: skip


def test_a_held_write_lock_gives_503_with_retry_after_then_the_request_succeeds(
    quick: LiveServer,
) -> None:
    project = quick.new_project()
    body = project["credentials"]["bodies"]["school"]
    data = binary_bytes(encodings(random_clks(np.random.default_rng(1), 5)))
    holder = sqlite3.connect(_db_path(quick), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        r = _replace_upload(quick, body, project["project_id"], data)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("/database-busy")
        assert "nothing was stored" in r.json()["detail"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = _replace_upload(quick, body, project["project_id"], data)
    assert r.status_code == 201, r.text
    assert r.json()["count"] == 5


def _upload_many(live: LiveServer, workers: int, each: int) -> tuple[str, list[httpx.Response]]:
    """``workers`` threads, one body each, each appending ``each`` small files at once."""
    bodies = tuple(f"body{i}" for i in range(workers))
    project = live.new_project(bodies=bodies)
    pid = project["project_id"]
    rng = np.random.default_rng(2)
    files = {b: [binary_bytes(encodings(random_clks(rng, 3))) for _ in range(each)] for b in bodies}

    def send(body: str) -> list[httpx.Response]:
        with live.client(project["credentials"]["bodies"][body]) as c:
            return [
                c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "append"}, content=f)
                for f in files[body]
            ]

    with ThreadPoolExecutor(workers) as pool:
        answers = [r for rs in pool.map(send, bodies) for r in rs]
    return pid, answers


def _stored(live: LiveServer, pid: str) -> int:
    con = sqlite3.connect(_db_path(live))
    try:
        row = con.execute("SELECT count(*) FROM uploads WHERE project_id = ?", (pid,)).fetchone()
        return int(row[0])
    finally:
        con.close()


def test_concurrent_writers_with_the_default_timeout_all_succeed(tmp_path: Path) -> None:
    live = _server(tmp_path, 30.0)
    try:
        pid, answers = _upload_many(live, workers=8, each=4)
        assert [r.status_code for r in answers] == [201] * 32, [r.text for r in answers]
        assert _stored(live, pid) == 32
    finally:
        live.stop()


def test_concurrent_writers_past_a_zero_timeout_get_503_never_500(tmp_path: Path) -> None:
    live = _server(tmp_path, 0.0)  # no waiting at all: contention surfaces at once
    try:
        pid, answers = _upload_many(live, workers=8, each=4)
        codes = [r.status_code for r in answers]
        assert set(codes) <= {201, 503}, [
            r.text for r in answers if r.status_code not in (201, 503)
        ]
        assert all(r.headers.get("retry-after") == "2" for r in answers if r.status_code == 503)
        # Every 201 is stored, no 503 left anything behind.
        assert codes.count(201) >= 1
        assert _stored(live, pid) == codes.count(201)
        assert not list((live.settings.uploads_dir / "tmp").iterdir())
    finally:
        live.stop()
