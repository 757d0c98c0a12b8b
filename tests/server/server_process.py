"""The server as a real process (``python -m server serve``) for the hardening and
fault-injection tests: start with any options, SIGKILL, restart on the same data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_testkit import free_port, fresh_pg_database, pg_reason

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """``python -m server serve`` in a subprocess with a permissive umask (022), so that
    the modes it creates are its own doing; logs go to ``log``."""

    def __init__(
        self, data_dir: Path, url: str | None, log: Path, *extra: str, env: dict | None = None
    ) -> None:
        self.data_dir, self.url, self.log, self.extra = data_dir, url, log, list(extra)
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        args = [sys.executable, "-m", "server", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--worker-poll-seconds", "0.05",
                *self.extra]  # fmt: skip
        return args + (["--database-url", self.url] if self.url else [])

    def start(self) -> None:
        # The port is chosen here and bound by the subprocess; another test worker may take
        # it in between, so a start that fails for that alone is retried on another port.
        for _ in range(3):
            self.port = free_port()
            if self._start_once():
                return
            if "address already in use" not in self.log.read_text(errors="replace")[-3000:]:
                break
        raise RuntimeError(self.log.read_text(errors="replace")[-3000:])

    def _start_once(self) -> bool:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                self.args(),
                cwd=ROOT,
                stdout=handle,
                stderr=handle,
                env=self.env,
                preexec_fn=lambda: os.umask(0o022),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.1)
        return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
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
                self.proc.wait(10)

    def client(self, cred: str | None = None, **headers: str) -> httpx.Client:
        if cred:
            headers["Authorization"] = f"Bearer {cred}"
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    @property
    def operator(self) -> str:
        return (self.data_dir / "operator.credential").read_text().strip()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m server ARGS`` against this server's data (``--data-dir`` and,
        on PostgreSQL, ``--database-url`` appended)."""
        full = [sys.executable, "-m", "server", *args, "--data-dir", str(self.data_dir)]
        if self.url:
            full += ["--database-url", self.url]
        return subprocess.run(full, cwd=ROOT, capture_output=True, text=True, env=self.env)


def backend_param(name: str) -> Iterator[str | None]:
    """Database URL for a backend name: None (SQLite in the data folder) or a fresh
    PostgreSQL database, dropped afterwards; skips where PostgreSQL is unreachable."""
    if name == "postgres":
        reason = pg_reason()
        if reason:
            pytest.skip(reason)
        url, drop = fresh_pg_database()
        try:
            yield url
        finally:
            drop()
    else:
        yield None
