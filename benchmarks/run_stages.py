"""A whole run on a real server, stage by stage, on SQLite and PostgreSQL (issue 15, item 4).

Run ``python -m benchmarks.run_stages [--each 100000] [--bodies 5] [--runs 2]
[--backends sqlite,postgres] [--out DIR]``.

Synthetic linkable encodings (noisy copies of shared base CLKs, as in
``benchmarks.engine_speed``) are written once for ``bodies × each`` records. For each
backend a fresh ``kakehashi serve`` is started on 127.0.0.1 (SQLite in a temporary data
folder, or a fresh PostgreSQL database at 127.0.0.1:5432, dropped afterwards), a project is
created and every body uploads its file; then ``runs`` runs are made one after the other
over the same data (the first mints every token, the later ones load the previous run's
tokens and keep them). For each run: the wall time seen by the client (start to "done"),
the per-stage seconds and the process's peak RSS after each stage that the server records
in the run's ``stats``, the server's peak RSS sampled every 50 ms during the run, and the
ratio of the whole run to its linking time. Medians over the runs after the first are
reported as well. The load average before and after is recorded (the machine is shared).

Encodings are synthetic bits; nothing here resembles personal data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from apiclient import ApiClient
from benchmarks.memory import RssSampler
from benchmarks.server_load import write_linkable_encodings
from kakehashi.demo import free_port
from linkage.schema import default_schema

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STAGES = ("load", "import", "link", "tokens", "write")


@contextmanager
def _database(backend: str) -> Iterator[str | None]:
    """None for SQLite (the server's default in its data folder) or a fresh PG database URL."""
    if backend == "sqlite":
        yield None
        return
    import psycopg

    name = f"kakehashi_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def _server(data_dir: Path, database_url: str | None) -> Iterator[tuple[str, psutil.Process]]:
    saved = os.environ.get("KAKEHASHI_DATABASE_URL")
    if database_url:
        os.environ["KAKEHASHI_DATABASE_URL"] = database_url
    else:
        os.environ.pop("KAKEHASHI_DATABASE_URL", None)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "kakehashi", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
    ]  # fmt: skip
    with (data_dir / "server.log").open("ab") as log:
        process = psutil.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Not kakehashi.demo.running_server: on the loaded shared machine the server's
        # imports alone can take over a minute, its limit.
        deadline = time.monotonic() + 600
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            with suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 600 s")
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except psutil.TimeoutExpired:
            process.kill()
        if saved is None:
            os.environ.pop("KAKEHASHI_DATABASE_URL", None)
        else:
            os.environ["KAKEHASHI_DATABASE_URL"] = saved


def _ratio(seconds: dict[str, float]) -> float | None:
    return round(seconds["total"] / seconds["link"], 2) if seconds.get("link") else None


def _wait(client: ApiClient, pid: str, rid: str, timeout: float, rss: RssSampler) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    while time.monotonic() < deadline:
        status = client.run_status(pid, rid)
        if status.get("status") in {"done", "failed", "cancelled"}:
            return status
        if time.monotonic() - shown > 30:  # a long run shows how far it got
            shown = time.monotonic()
            print(f"  progress {status.get('progress')}, server peak so far "
                  f"{rss.peak / 2**20:.0f} MB", flush=True)  # fmt: skip
        time.sleep(0.2)
    raise RuntimeError(f"run {rid} did not finish within {timeout:.0f} s")


@contextmanager
def _keep_log(log: Path, copy: Path | None) -> Iterator[None]:
    """Copy the server's log to ``copy`` when the block ends, however it ends."""
    try:
        yield
    finally:
        if copy is not None and log.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(log.read_bytes())


def bench_backend(
    backend: str,
    files: list[Path],
    runs: int,
    threshold: float,
    timeout: float,
    log_copy: Path | None = None,
) -> dict[str, Any]:
    """Upload ``files`` (one body each) to a fresh server and make ``runs`` runs."""
    bodies = [f"body{i}" for i in range(len(files))]
    with (
        tempfile.TemporaryDirectory(prefix="kakehashi-stages-") as tmp,
        _keep_log(Path(tmp) / "server" / "server.log", log_copy),
        _database(backend) as db_url,
        _server(Path(tmp) / "server", db_url) as (url, server),
    ):
        operator = (Path(tmp) / "server" / "operator.credential").read_text().strip()
        with ApiClient(url, operator) as client:
            project = client.create_project(
                {"name": "stages", "bodies": bodies, "threshold": threshold}
            )
        pid = project["project_id"]
        t = time.perf_counter()
        for body, path in zip(bodies, files, strict=True):
            with ApiClient(url, project["credentials"]["bodies"][body], timeout=600) as c:
                c.upload(pid, path)
        upload_seconds = time.perf_counter() - t
        rows = []
        with ApiClient(url, project["credentials"]["coordinator"], timeout=600) as coord:
            for i in range(runs):
                with RssSampler(server) as rss:
                    t = time.perf_counter()
                    rid = coord.start_run(pid)["run_id"]
                    status = _wait(coord, pid, rid, timeout, rss)
                    wall = time.perf_counter() - t
                if status["status"] != "done":
                    raise RuntimeError(f"run {i} ended {status['status']}: {status.get('error')}")
                stats = status["stats"]
                seconds = stats.get("seconds", {})
                rows.append(
                    {
                        "run": i + 1,
                        "client_wall_seconds": round(wall, 2),
                        "seconds": seconds,
                        "cpu_seconds": stats.get("cpu_seconds", {}),
                        "link_seconds": stats.get("link_seconds", {}),
                        "peak_rss_mb": stats.get("peak_rss_mb", {}),
                        "peak_rss_window": stats.get("peak_rss_window"),
                        "rss_mb": stats.get("rss_mb", {}),
                        "whole_over_link": _ratio(seconds),
                        "whole_over_link_cpu": _ratio(stats.get("cpu_seconds", {})),
                        "server_rss_baseline_mb": round(rss.baseline / 2**20),
                        "server_rss_peak_mb": round(rss.peak / 2**20),
                        "records": stats["records"],
                        "groups": stats["groups"],
                        "tokens_kept": stats["tokens_kept"],
                    }
                )
                print(f"{backend} run {i + 1}: {json.dumps(rows[-1])}", flush=True)
    later = rows[1:] or rows
    median = {
        stage: round(statistics.median(r["seconds"].get(stage, 0.0) for r in later), 2)
        for stage in (*STAGES, "total")
    }
    median_cpu = {
        stage: round(statistics.median(r["cpu_seconds"].get(stage, 0.0) for r in later), 2)
        for stage in (*STAGES, "total")
    }
    return {
        "backend": backend,
        "upload_seconds": round(upload_seconds, 2),
        "runs": rows,
        "median_later_runs": {
            "seconds": median,
            "cpu_seconds": median_cpu,
            "whole_over_link": _ratio(median),
            "whole_over_link_cpu": _ratio(median_cpu),
            "server_rss_peak_mb": max(r["server_rss_peak_mb"] for r in rows),
        },
    }


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"# Run stages: {report['bodies']} × {report['each']:,} records",
        "",
        f"{env['cpus']} CPUs, load average before {env['load_before'][0]:.2f}, after "
        f"{env['load_after'][0]:.2f}; threshold {report['threshold']}. Wall and CPU seconds "
        "per stage from the run's stats (CPU: the server process, all threads); peak RSS "
        "per stage from the run's stats, and the server's peak sampled every 50 ms.",
        "",
        "| backend | run | | load | import | link | tokens | write | total | total ÷ link "
        "| server peak MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in report["results"]:
        for r in b["runs"]:
            for kind, key, ratio in (
                ("wall s", "seconds", "whole_over_link"),
                ("CPU s", "cpu_seconds", "whole_over_link_cpu"),
            ):
                s = r[key]
                cells = " | ".join(f"{s.get(k, 0):.2f}" for k in (*STAGES, "total"))
                lines.append(
                    f"| {b['backend']} | {r['run']} | {kind} | {cells} | {r[ratio]} "
                    f"| {r['server_rss_peak_mb']} |"
                )
            p = r["peak_rss_mb"]
            cells = " | ".join(f"{p.get(k, 0):.0f}" for k in STAGES)
            lines.append(
                f"| {b['backend']} | {r['run']} | peak MB ({r['peak_rss_window']}) | {cells} "
                f"| | | |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_stages", description=__doc__)
    parser.add_argument("--each", type=int, default=100_000, help="records per body")
    parser.add_argument("--bodies", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2, help="runs per backend (same data)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON + Markdown")
    args = parser.parse_args(argv)
    env = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_before": list(os.getloadavg()),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="kakehashi-stages-data-") as tmp:
        files = [Path(tmp) / f"body{i}.kkh" for i in range(args.bodies)]
        schema_id = default_schema().schema_id  # what a new project uses
        write_linkable_encodings(files, args.each, schema_id=schema_id, seed=args.seed)
        for backend in args.backends.split(","):
            log = args.out / f"server-{backend}.log" if args.out else None
            results.append(
                bench_backend(backend, files, args.runs, args.threshold, args.timeout, log)
            )
    env["load_after"] = list(os.getloadavg())
    report = {
        "environment": env,
        "bodies": args.bodies,
        "each": args.each,
        "threshold": args.threshold,
        "results": results,
    }
    markdown = to_markdown(report)
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "run_stages.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "run_stages.md").write_text(markdown)
    return report


if __name__ == "__main__":
    main()
