"""Fixtures: a live server per backend (SQLite file, fresh PostgreSQL database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_testkit import LiveServer, fresh_pg_database, make_settings, pg_reason, start_server


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live server per module and backend (SQLite file or a fresh PostgreSQL database)."""
    drop = None
    if request.param == "postgres":
        reason = pg_reason()
        if reason:
            pytest.skip(reason)
        url, drop = fresh_pg_database()
    else:
        url = None
    data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
    server = start_server(make_settings(data_dir, url), request.param)
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
            reason = pg_reason()
            if reason:
                pytest.skip(reason)
            url, drop = fresh_pg_database()
            drops.append(drop)
        data_dir = tmp_path / f"data{len(servers)}"
        server = start_server(make_settings(data_dir, url, **overrides), request.param)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
    for drop in drops:
        drop()
