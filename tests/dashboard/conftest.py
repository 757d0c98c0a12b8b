"""Fixtures: one demo project on a real ``kakehashi serve``, dashboards, a real Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from demo_project import DemoProject, demo_project

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
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=config.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.05)
    return LiveDashboard(f"http://127.0.0.1:{config.port}", config, server, thread)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProject]:
    """The demo project (150 children, six bodies, signals) on a real server process."""
    with demo_project(tmp_path_factory.mktemp("demo")) as project:
        yield project


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


@pytest.fixture(scope="module")
def dashboard(demo: DemoProject) -> Iterator[LiveDashboard]:
    live = start_dashboard(config_for(demo))
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots go here (git-ignored; kept after the run for people to look at)."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    args = ["--lang=ja-JP"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()
