"""Helpers for the server tests: fresh databases, a live uvicorn server, polling runs."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from server.core.config import Settings
from server.main import create_app

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pg_reason() -> str | None:
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
    """Start uvicorn with ``create_app(settings)`` in a thread on a free port.

    The socket is bound here and handed to uvicorn, so no other process (another test
    worker) can take the port between choosing it and listening on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    operator = (settings.data_dir / "operator.credential").read_text().strip()
    return LiveServer(f"http://127.0.0.1:{port}", settings, operator, backend, server, thread)


def make_settings(data_dir: Path, url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"worker_poll_seconds": 0.1, "max_upload_bytes": 4 * 1024 * 1024}
    return Settings(data_dir=data_dir, database_url=url, **{**values, **overrides})


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
