"""Load test with locust (headless, bounded, 127.0.0.1 only): 10 bodies upload while the
coordinator polls, with linkage runs in between.

A real ``kakehashi serve`` is started on 127.0.0.1 with a temporary data folder. One project
has ten bodies; each body user uploads its encodings (``replace``, alternating between two
prepared files so every upload stores something) and reads the project summary; the
coordinator user polls the project, its runs and the token table, and starts a run every
``--run-every`` seconds (a 409 "run in progress" is expected then and not an error). The
test stops after ``--seconds`` or when every body has made ``--uploads`` uploads, whichever
is first. p50/p99 latencies per request kind and the error count go to
``<out>/load_locust.json`` and ``.md``.

The users are in ``benchmarks/locustfile.py``; this module prepares the server and the
files, runs the ``locust`` command headless in a child process (locust patches the standard
library with gevent, so it gets a process of its own) and reads its CSV statistics::

    python -m benchmarks.load_locust --seconds 60 --records 5000 --out benchmarks/results/<date>/
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from apiclient import ApiClient, ApiError, read_credential
from kakehashi.demo import running_server
from linkage.container import Encodings, new_refs, write_encodings

FINGERPRINT = "10AD-0000-0000-0010"
N_BODIES = 10
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _prepare(url: str, operator: str, records: int, work: Path) -> dict[str, Any]:
    names = [f"body{i:02d}" for i in range(N_BODIES)]
    with ApiClient(url, operator) as client:
        project = client.create_project({"name": "load", "bodies": names})
    rng = np.random.default_rng(11)
    shared = np.packbits(rng.random((records // 2, 1024)) < 0.25, axis=1)
    bodies = []
    for name in names:
        files = []
        for variant in range(2):
            own = np.packbits(rng.random((records - len(shared), 1024)) < 0.25, axis=1)
            path = work / f"{name}-{variant}.kkh"
            write_encodings(
                path,
                Encodings(
                    new_refs(records),
                    np.vstack([shared, own]),
                    1024,
                    project["schema_id"],
                    FINGERPRINT,
                ),
            )
            files.append(str(path))
        bodies.append(
            {"name": name, "credential": project["credentials"]["bodies"][name], "files": files}
        )
    return {
        "pid": project["project_id"],
        "coordinator": project["credentials"]["coordinator"],
        "bodies": bodies,
    }


def run_load(*, seconds: float, records: int, uploads: int, run_every: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        with running_server(data_dir) as url:
            operator = read_credential(data_dir / "operator.credential")
            plan = _prepare(url, operator, records, work)
            plan.update(run_every=run_every, max_uploads=uploads)
            (work / "plan.json").write_text(json.dumps(plan))
            env = {
                **os.environ,
                "KAKEHASHI_LOAD_PLAN": str(work / "plan.json"),
                "KAKEHASHI_LOAD_RUNS": str(work / "runs.json"),
            }
            command = [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                "--host", url, "-u", str(N_BODIES + 1), "-r", str(N_BODIES + 1),
                "-t", f"{int(seconds)}s", "--stop-timeout", "30", "--csv", str(work / "load"),
                "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=seconds + 300
            )
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
            # a last run after the load, so the report says the server still links
            with ApiClient(url, plan["coordinator"], timeout=600) as client:
                final = client.wait_run(plan["pid"], _start_when_idle(client, plan["pid"]))
            runs = json.loads((work / "runs.json").read_text())
            stats = list(csv.DictReader((work / "load_stats.csv").open()))
            failures = list(csv.DictReader((work / "load_failures.csv").open()))
    rows = [_row(r) for r in stats if r["Name"] != "Aggregated"]
    total = next(_row(r) for r in stats if r["Name"] == "Aggregated")
    return {
        "benchmark": "load_locust (10 bodies uploading, coordinator polling, runs between)",
        "date": str(date.today()),
        "machine": platform.platform(),
        "seconds": round(elapsed, 1),
        "records_per_upload": records,
        "max_uploads_per_body": uploads,
        "runs_started": runs["runs_started"],
        "runs_refused_busy": runs["runs_busy"],
        "final_run": {
            "status": final["status"],
            "records": (final.get("stats") or {}).get("records"),
        },
        "errors": total["failures"],
        "error_examples": [
            {"name": f["Name"], "error": f["Error"][:200], "count": int(f["Occurrences"])}
            for f in failures[:10]
        ],
        "total": total,
        "requests": rows,
    }


def _start_when_idle(client: ApiClient, pid: str) -> str:
    """Start a run once the one the load test may have left running has finished."""
    deadline = time.monotonic() + 600
    while True:
        try:
            return str(client.start_run(pid)["run_id"])
        except ApiError as exc:
            if exc.status != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _row(row: dict[str, str]) -> dict[str, Any]:
    n = int(row["Request Count"])

    def ms(key: str) -> float | None:
        value = row.get(key, "N/A")
        return None if not n or value in ("N/A", "") else float(value)

    return {
        "name": row["Name"],
        "method": row["Type"],
        "requests": n,
        "failures": int(row["Failure Count"]),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "max_ms": round(ms("Max Response Time") or 0.0, 1) if n else None,
        "rps": float(row["Requests/s"]) if n else None,
    }


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Load test — {report['date']}",
        "",
        f"{report['benchmark']}; {report['seconds']} s on {report['machine']}; "
        f"{report['records_per_upload']} records per upload; runs started "
        f"{report['runs_started']} (refused while busy {report['runs_refused_busy']}); "
        f"final run {report['final_run']['status']} over {report['final_run']['records']} "
        f"records. Errors: **{report['errors']}**.",
        "",
        "| request | n | failures | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in [*report["requests"], report["total"]]:
        lines.append(
            f"| {row['method'] or ''} {row['name']} | {row['requests']} | {row['failures']} | "
            f"{row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="upper bound on the test")
    parser.add_argument("--records", type=int, default=5000, help="records per upload")
    parser.add_argument("--uploads", type=int, default=20, help="uploads per body at most")
    parser.add_argument("--run-every", type=float, default=10.0, help="seconds between runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results") / str(date.today()))
    args = parser.parse_args(argv)
    report = run_load(
        seconds=args.seconds, records=args.records, uploads=args.uploads, run_every=args.run_every
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load_locust.json").write_text(json.dumps(report, indent=2))
    (args.out / "load_locust.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return report


if __name__ == "__main__":
    main()
