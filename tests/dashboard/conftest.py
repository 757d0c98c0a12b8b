"""Fixtures: one demo project on a real ``kakehashi serve``, dashboards, a real Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_testkit import ARTIFACTS, CHROMIUM, LiveDashboard, config_for, start_dashboard
from demo_project import DemoProject, demo_project


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProject]:
    """The demo project (150 children, six bodies, signals) on a real server process."""
    with demo_project(tmp_path_factory.mktemp("demo")) as project:
        yield project


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
