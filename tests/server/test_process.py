"""The server as a real process: crash recovery after SIGKILL, and the privacy canary."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from server_testdata import binary_bytes, bodies_data, encodings
from server_testkit import free_port, fresh_pg_database, pg_reason, wait_run

ROOT = Path(__file__).resolve().parents[2]


class Proc:
    """``python -m server serve`` in a subprocess, logs to a file."""

    def __init__(self, data_dir: Path, url: str | None, log: Path) -> None:
        self.data_dir, self.url, self.log = data_dir, url, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, retried: bool = False) -> None:
        args = [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--worker-poll-seconds",
            "0.05",
        ]
        if self.url:
            args += ["--database-url", self.url]
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=handle, stderr=handle)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                if "address already in use" in tail and not retried:
                    # Another test worker took the port after it was chosen: once more.
                    self.port = free_port()
                    return self.start(retried=True)
                break
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(self.log.read_text(errors="replace")[-2000:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self, cred: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {cred}"}, timeout=60
        )

    @property
    def operator(self) -> str:
        return (self.data_dir / "operator.credential").read_text().strip()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    if request.param == "postgres":
        reason = pg_reason()
        if reason:
            pytest.skip(reason)
        url, drop = fresh_pg_database()
        yield "postgres", url
        drop()
    else:
        yield "sqlite", None


def _setup_project(proc: Proc, n_shared: int, n_own: int) -> tuple[dict[str, Any], list[Any]]:
    with proc.client(proc.operator) as c:
        project = c.post("/api/v1/projects", json={"name": "p", "bodies": ["a", "b"]}).json()
    pid = project["project_id"]
    encs = [encodings(x) for x in bodies_data(7, n_shared, n_own)]
    for name, enc in zip(("a", "b"), encs, strict=True):
        with proc.client(project["credentials"]["bodies"][name]) as c:
            r = c.post(
                f"/api/v1/projects/{pid}/uploads",
                params={"mode": "replace"},
                content=binary_bytes(enc),
            )
            assert r.status_code == 201, r.text
    return project, encs


@pytest.mark.slow
def test_sigkill_during_run_then_restart_finishes(
    tmp_path: Path, backend: tuple[str, str | None]
) -> None:
    _, url = backend
    proc = Proc(tmp_path / "data", url, tmp_path / "server.log")
    proc.start()
    try:
        project, encs = _setup_project(proc, n_shared=1500, n_own=1500)
        pid, coord = project["project_id"], project["credentials"]["coordinator"]
        with proc.client(coord) as c:
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
            deadline = time.monotonic() + 30
            while c.get(f"/api/v1/projects/{pid}/runs/{rid}").json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.02)
        proc.kill()
    finally:
        proc.stop()
    assert not list((tmp_path / "data" / "uploads" / "tmp").glob("*"))

    proc.port = free_port()
    proc.start()
    try:
        with proc.client(coord) as c:
            final = wait_run(c, pid, rid, timeout=90)
            assert final["status"] == "done", final
            assert c.get(f"/api/v1/projects/{pid}").json()["upload_counts"] == {
                "a": 3000,
                "b": 3000,
            }
            rows = c.get(
                f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}
            ).json()["rows"]
            actions = [
                e["action"]
                for e in c.get(f"/api/v1/projects/{pid}/audit", params={"limit": 10000}).json()[
                    "entries"
                ]
            ]
        assert len(rows) == 6000
        assert {r for _, b, r in rows if b == "a"} == set(encs[0].refs)
        assert "run.requeued" in actions and actions.count("run.done") == 1
    finally:
        proc.stop()


def test_canary_no_plaintext_or_secrets_in_database_or_logs(
    tmp_path: Path, backend: tuple[str, str | None]
) -> None:
    name, url = backend
    proc = Proc(tmp_path / "data", url, tmp_path / "server.log")
    proc.start()
    try:
        project, encs = _setup_project(proc, n_shared=20, n_own=10)
        pid, coord = project["project_id"], project["credentials"]["coordinator"]
        # what a body knows and the server must never see: plaintext and local record ids
        plaintext = [
            "カナリア太郎",
            "金糸雀花子",
            "2019-04-01",
            "東京都千代田区千代田1-1",
            "REC-CANARY-000123",
        ]
        with proc.client(coord) as c:
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
            assert wait_run(c, pid, rid)["status"] == "done"
            c.get(f"/api/v1/projects/{pid}/results/tokens")
        with proc.client(project["credentials"]["bodies"]["a"]) as c:
            c.get(f"/api/v1/projects/{pid}/results/mapping")
    finally:
        proc.stop()
    if name == "sqlite":
        db = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("kakehashi.db*"))
    else:
        assert shutil.which("pg_dump"), "pg_dump is needed for the PostgreSQL canary"
        plain_url = url.replace("+psycopg", "")  # type: ignore[union-attr]
        db = subprocess.run(["pg_dump", plain_url], check=True, capture_output=True).stdout
    logs = (tmp_path / "server.log").read_bytes()
    secrets_ = [
        project["credentials"]["coordinator"],
        proc.operator,
        *project["credentials"]["bodies"].values(),
    ]
    for text in plaintext + secrets_:
        assert text.encode() not in db, f"{text!r} found in the database"
        assert text.encode() not in logs, f"{text!r} found in the logs"
    # refs and tokens are in the database by design, but never in the logs
    for ref in encs[0].refs[:5]:
        assert ref.encode() in db
        assert ref.encode() not in logs
    assert b"operator.credential" in logs  # the path is logged, the secret is not
    # the audit chain of the whole session verifies
    args = [sys.executable, "-m", "server", "audit", "verify", "--data-dir", str(tmp_path / "data")]
    if url:
        args += ["--database-url", url]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert np.all([len(e.refs) == 30 for e in encs])
