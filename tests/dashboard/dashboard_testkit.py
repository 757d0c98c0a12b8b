"""Helpers for the dashboard tests: a live dashboard (uvicorn in a thread) on a free port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from demo_project import DemoProject

from coordinator.dashboard import DashboardConfig, create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveDashboard:
    url: str
    config: DashboardConfig
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def start_dashboard(config: DashboardConfig) -> LiveDashboard:
    # Bound here and handed to uvicorn: no other test worker can take the port between
    # binding and listening.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", config.port))
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=config.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.05)
    return LiveDashboard(f"http://127.0.0.1:{config.port}", config, server, thread)


def config_for(demo: DemoProject, **overrides: Any) -> DashboardConfig:
    values: dict[str, Any] = {
        "server": demo.url,
        "project": demo.project,
        "credential_file": demo.coordinator,
        "key_file": demo.key,
        "rules_file": demo.rules,
        "port": free_port(),
    }
    return DashboardConfig(**{**values, **overrides})
