"""The server load benchmark at tiny sizes: real server, every upload succeeds, RSS is measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

from benchmarks import server_load
from benchmarks.memory import RssSampler
from linkage.container import read_encodings


def test_rss_sampler_sees_a_short_allocation_peak() -> None:
    """A child that holds 200 MB for 0.5 s shows up in the peak, not in the baseline."""
    code = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
    code += "time.sleep(0.5); del b; time.sleep(0.5)"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        process = psutil.Process(child.pid)
        with RssSampler(process) as sampler:
            child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert sampler.samples >= 10
    assert sampler.peak - sampler.baseline >= 150 * 2**20


def test_random_encodings_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "e.kkh"
    size = server_load.write_random_encodings(path, 1234, schema_id="ab" * 32, seed=3)
    encodings = read_encodings(path)
    assert size == path.stat().st_size
    assert len(encodings) == 1234 and encodings.bit_length == 1024
    assert len(set(encodings.refs)) == 1234


def test_benchmark_at_tiny_sizes(tmp_path: Path) -> None:
    out = tmp_path / "report"
    report = server_load.main(
        [
            "--upload", "3000", "--concurrent-bodies", "10", "--concurrent-each", "400",
            "--run-each", "1500", "--run-timeout", "120", "--out", str(out),
        ]
    )  # fmt: skip
    assert json.loads((out / "server_load.json").read_text()) == report
    assert "token table CSV" in (out / "server_load.md").read_text()

    upload = report["upload"]
    assert upload["ok"] and upload["stored_count"] == 3000
    assert upload["seconds"] > 0
    assert upload["server_rss_peak_mb"] >= upload["server_rss_baseline_mb"] > 20

    concurrent = report["concurrent"]
    assert concurrent["ok"] and concurrent["succeeded"] == 10 and concurrent["errors"] == []
    assert concurrent["server_upload_counts"] == {f"body{i:02d}": 400 for i in range(10)}

    assert report["run"]["status"] == "done"
    assert report["run"]["status_poll_errors"] == 0
    assert report["server_log_problems"] == []
    assert report["run"]["stats"]["records"] == 3000
    assert report["run"]["stats"]["linked_groups"] > 0  # the two bodies share base records

    download = report["download"]
    assert download["ok"] and download["rows"] == 3000
    assert download["bytes"] > 3000 * 64  # two 32-hex columns per row at least
    assert download["streamed"] is None  # too small a table to judge
    assert report["targets"]["concurrent_all_succeeded"] is True
