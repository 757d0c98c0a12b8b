"""The locust load test at a tiny size: a real server, 10 bodies and the coordinator, 0 errors.

Run as a child process: locust patches the standard library with gevent on import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_tiny_load_test_reports_latencies_and_no_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load_locust", "--seconds", "30", "--records", "50",
         "--uploads", "1", "--run-every", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "load_locust.json").read_text())
    assert report["errors"] == 0, report["error_examples"]
    names = {row["name"]: row for row in report["requests"]}
    assert names["upload"]["requests"] == 10  # every body uploaded once
    for row in report["requests"]:
        assert row["p50_ms"] is not None and row["p99_ms"] >= row["p50_ms"]
    assert report["final_run"]["status"] == "done"
    assert "upload" in (tmp_path / "load_locust.md").read_text()
