"""Fixtures: a fresh database per backend (SQLite, PostgreSQL) and a real uvicorn server."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text

from server.core.config import Settings
from server.main import create_app

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at 127.0.0.1:5432 unreachable ({type(exc).__name__})"
    return None


def fresh_pg_database() -> tuple[str, Any]:
    """Create another fresh PostgreSQL database; returns (url, drop callback)."""
    name = f"kakehashi_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running server: base URL, settings and the operator credential."""

    url: str
    settings: Settings
    operator: str
    backend: str
    _server: uvicorn.Server
    _thread: threading.Thread
    created: list[dict[str, Any]] = field(default_factory=list)

    def client(self, credential: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def new_project(self, bodies: tuple[str, ...] = ("school", "welfare"), **extra: Any) -> dict:
        with self.client(self.operator) as c:
            r = c.post("/api/v1/projects", json={"name": "test", "bodies": list(bodies), **extra})
        assert r.status_code == 201, r.text
        return r.json()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


def start_server(settings: Settings, backend: str) -> LiveServer:
    """Start uvicorn with ``create_app(settings)`` in a thread on a free port."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    operator = (settings.data_dir / "operator.credential").read_text().strip()
    return LiveServer(f"http://127.0.0.1:{port}", settings, operator, backend, server, thread)


def _settings(data_dir: Path, url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"worker_poll_seconds": 0.1, "max_upload_bytes": 4 * 1024 * 1024}
    return Settings(data_dir=data_dir, database_url=url, **{**values, **overrides})


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server per module and backend (SQLite file or a fresh PostgreSQL database)."""
    drop = None
    if request.param == "postgres":
        reason = _pg_reason()
        if reason:
            pytest.skip(reason)
        url, drop = fresh_pg_database()
    else:
        url = None
    data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
    server = start_server(_settings(data_dir, url), request.param)
    try:
        yield server
    finally:
        server.stop()
        if drop is not None:
            drop()


@pytest.fixture(params=["sqlite", "postgres"])
def make_live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Factory for a server with special settings, on each backend."""
    servers: list[LiveServer] = []
    drops: list[Any] = []

    def factory(**overrides: Any) -> LiveServer:
        url = None
        if request.param == "postgres":
            reason = _pg_reason()
            if reason:
                pytest.skip(reason)
            url, drop = fresh_pg_database()
            drops.append(drop)
        data_dir = tmp_path / f"data{len(servers)}"
        server = start_server(_settings(data_dir, url, **overrides), request.param)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
    for drop in drops:
        drop()


def wait_run(client: httpx.Client, pid: str, rid: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/projects/{pid}/runs/{rid}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"run {rid} did not finish in {timeout}s")
