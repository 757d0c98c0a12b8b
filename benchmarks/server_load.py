"""Load benchmark of the linkage server, against a real ``kakehashi serve`` process.

Run ``python -m benchmarks.server_load [--quick] [--out DIR]``.

Everything goes to a server started on a free 127.0.0.1 port with a SQLite database in a
temporary data folder (``kakehashi.demo.running_server``); the server is stopped at the
end. The server process's resident set size (RSS, itself plus any children) is sampled
with psutil every 50 ms while each step runs.

Steps (full sizes; ``--quick``: 100 k / 10 × 10 k / 2 × 50 k):

1. ``upload``: one body uploads 1 000 000 encodings (1024-bit random CLKs, binary
   container): wall time and server peak RSS. Targets: ≤ 30 s, ≤ 1 GB.
2. ``concurrent``: 10 bodies of one project upload 100 000 encodings each at the same
   time, one thread and one ``ApiClient`` each: every upload must succeed; wall time
   and server peak RSS.
3. ``run`` + ``download``: a project with 2 bodies × 500 000 records (noisy copies of
   shared base CLKs, as in ``benchmarks.engine_speed``) is run, then the coordinator
   downloads the token table as CSV (≥ 1 M rows): run wall time and peak RSS; download
   wall time, bytes, rows, and the server's RSS growth during the download compared
   with the table's size. A streamed table makes the growth a small fraction of it.

Encodings are synthetic bits; nothing here resembles personal data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np
import psutil

from apiclient import ApiClient, ApiError, read_credential
from benchmarks.memory import RssSampler, process_tree_rss
from kakehashi.demo import running_server
from linkage.container import BinaryWriter, new_ref

T = TypeVar("T")

BIT_LENGTH = 1024
# The fingerprint every synthetic body declares (all encode with one made-up secret).
FINGERPRINT = "5A1E-0B0D-1E50-0001"
MB = 1 << 20
UPLOAD_SECONDS_TARGET = 30.0
UPLOAD_RSS_TARGET = 1 << 30
STREAMING_FRACTION = 0.25  # RSS growth during the download must stay below this × table
STREAMING_MIN_TABLE = 32 * MB  # smaller tables are within allocator noise: not judged
_CHUNK = 50_000


@dataclass(frozen=True)
class Sizes:
    """Record counts of the three steps."""

    upload: int
    concurrent_bodies: int
    concurrent_each: int
    run_each: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            upload=1_000_000, concurrent_bodies=10, concurrent_each=100_000, run_each=500_000
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(upload=100_000, concurrent_bodies=10, concurrent_each=10_000, run_each=50_000)


# -- synthetic encodings --------------------------------------------------------------


def write_random_encodings(path: Path, n: int, *, schema_id: str, seed: int) -> int:
    """Write ``n`` random 1024-bit CLKs (density 0.5) with fresh refs; return file bytes."""
    rng = np.random.default_rng(seed)
    with BinaryWriter(
        path, schema_id=schema_id, bit_length=BIT_LENGTH, secret_fingerprint=FINGERPRINT
    ) as writer:
        for start in range(0, n, _CHUNK):
            k = min(_CHUNK, n - start)
            clks = rng.integers(0, 256, size=(k, BIT_LENGTH // 8), dtype=np.uint8)
            writer.write([new_ref() for _ in range(k)], clks)
    return path.stat().st_size


def write_linkable_encodings(
    paths: list[Path], n_each: int, *, schema_id: str, seed: int, overlap: float = 0.8
) -> int:
    """Write one file per path: noisy copies of shared base CLKs, so a run finds links.

    Each body holds ``n_each`` records drawn from a random ``overlap`` share of about
    ``n_each / overlap`` base CLKs (bit density U(0.15, 0.5), each bit flipped with
    probability U(0, 0.08)).
    Returns the total bytes written.
    """
    from benchmarks.engine_speed import synthetic_bodies

    n_base = round(n_each / overlap * 1.02) + 200  # slack: each body's share is random
    arrays, _ids = synthetic_bodies(n_base, len(paths), seed=seed, keep=overlap)
    total = 0
    for path, clks in zip(paths, arrays, strict=True):
        if len(clks) < n_each:
            raise RuntimeError(f"only {len(clks)} synthetic records drawn for {n_each}")
        clks = clks[:n_each]
        with BinaryWriter(
        path, schema_id=schema_id, bit_length=BIT_LENGTH, secret_fingerprint=FINGERPRINT
    ) as writer:
            for start in range(0, len(clks), _CHUNK):
                part = clks[start : start + _CHUNK]
                writer.write([new_ref() for _ in range(len(part))], part)
        total += path.stat().st_size
    return total


# -- server RSS sampling: benchmarks.memory ---------------------------------------


def measured(process: psutil.Process, action: Callable[[], T]) -> tuple[T, float, RssSampler]:
    """Run ``action`` while sampling the server's RSS: ``(result, seconds, sampler)``."""
    with RssSampler(process) as sampler:
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
    return result, seconds, sampler


def _server_process(url: str) -> psutil.Process:
    """The ``kakehashi serve`` child of this process that listens on ``url``'s port."""
    port = str(urlparse(url).port)
    for child in psutil.Process().children(recursive=True):
        try:
            words = child.cmdline()
        except psutil.Error:
            continue
        if "serve" in words and "--port" in words and words[words.index("--port") + 1] == port:
            return child
    raise RuntimeError(f"no server process of ours listens on port {port}")


@contextmanager
def _server(data_dir: Path) -> Iterator[tuple[str, psutil.Process, str]]:
    """A real server on 127.0.0.1: ``(url, its process, operator credential)``."""
    with running_server(data_dir) as url:
        yield url, _server_process(url), read_credential(data_dir / "operator.credential")


# -- the steps -------------------------------------------------------------------------


def _project(url: str, operator: str, name: str, bodies: list[str]) -> dict[str, Any]:
    with ApiClient(url, operator) as client:
        return client.create_project({"name": name, "bodies": bodies})


def _mb(n: int) -> float:
    return round(n / MB, 1)


def bench_upload(url: str, server: psutil.Process, operator: str, work: Path, n: int) -> dict:
    """Step 1: one upload of ``n`` encodings."""
    project = _project(url, operator, "load: one upload", ["gakko", "hoken"])
    path = work / "upload.kkh"
    size = write_random_encodings(path, n, schema_id=project["schema_id"], seed=1)
    with ApiClient(url, project["credentials"]["bodies"]["gakko"], timeout=600) as client:
        answer, seconds, rss = measured(server, lambda: client.upload(project["project_id"], path))
    path.unlink()
    return {
        "records": n,
        "bytes": size,
        "seconds": round(seconds, 2),
        "records_per_s": round(n / seconds),
        "stored_count": answer["count"],
        "ok": answer["count"] == n and not answer["duplicate"],
        "server_rss_baseline_mb": _mb(rss.baseline),
        "server_rss_peak_mb": _mb(rss.peak),
        "rss_samples": rss.samples,
    }


def _upload_one(url: str, credential: str, pid: str, path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with ApiClient(url, credential, timeout=600) as client:
            answer = client.upload(pid, path)
    except ApiError as exc:
        return {"ok": False, "error": str(exc), "seconds": time.perf_counter() - started}
    return {"ok": True, "count": answer["count"], "seconds": time.perf_counter() - started}


def bench_concurrent(
    url: str, server: psutil.Process, operator: str, work: Path, bodies: int, each: int
) -> dict:
    """Step 2: ``bodies`` simultaneous uploads of ``each`` encodings to one project."""
    names = [f"body{i:02d}" for i in range(bodies)]
    project = _project(url, operator, "load: concurrent uploads", names)
    pid = project["project_id"]
    paths = [work / f"{name}.kkh" for name in names]
    size = sum(
        write_random_encodings(p, each, schema_id=project["schema_id"], seed=100 + i)
        for i, p in enumerate(paths)
    )
    creds = project["credentials"]["bodies"]

    def upload_all() -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=bodies) as pool:
            futures = [
                pool.submit(_upload_one, url, creds[name], pid, path)
                for name, path in zip(names, paths, strict=True)
            ]
            return [f.result() for f in futures]

    results, seconds, rss = measured(server, upload_all)
    for path in paths:
        path.unlink()
    with ApiClient(url, project["credentials"]["coordinator"]) as coordinator:
        summary = coordinator.get_json(f"/projects/{pid}")
    succeeded = [r for r in results if r["ok"] and r["count"] == each]
    return {
        "bodies": bodies,
        "records_each": each,
        "bytes": size,
        "seconds": round(seconds, 2),
        "succeeded": len(succeeded),
        "ok": len(succeeded) == bodies,
        "errors": [r["error"] for r in results if not r["ok"]],
        "slowest_upload_s": round(max(r["seconds"] for r in results), 2),
        "server_upload_counts": summary.get("upload_counts"),
        "server_rss_baseline_mb": _mb(rss.baseline),
        "server_rss_peak_mb": _mb(rss.peak),
        "rss_samples": rss.samples,
    }


def _wait_run(
    client: ApiClient, pid: str, rid: str, *, timeout: float, poll: float = 0.5
) -> tuple[dict[str, Any], list[str]]:
    """Poll a run until it ends or ``timeout`` passes: ``(last status, failed polls)``.

    Unlike ``ApiClient.wait_run`` a refused status request is recorded, not raised, so a
    server that answers 5xx while it writes a large token table is measured, not fatal.
    """
    deadline = time.monotonic() + timeout
    errors: list[str] = []
    while time.monotonic() < deadline:
        try:
            status = client.run_status(pid, rid)
        except ApiError as exc:
            errors.append(str(exc))
        else:
            if status.get("status") in {"done", "failed", "cancelled"}:
                return status, errors
        time.sleep(poll)
    return {"status": "timeout", "error": f"not finished within {timeout:.0f} s"}, errors


def server_log_problems(log: Path, limit: int = 20) -> list[str]:
    """Up to ``limit`` lines of the server log that report errors (each cut to 400 chars).

    The server logs JSON lines without request bodies, refs or tokens; the data here are
    synthetic anyway.
    """
    if not log.exists():
        return []
    found: list[str] = []
    with log.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if any(word in line for word in ('"ERROR"', "Traceback", "OperationalError")):
                found.append(line.strip()[:400])
                if len(found) >= limit:
                    break
    return found


def bench_run_and_download(
    url: str, server: psutil.Process, operator: str, work: Path, each: int, *, run_timeout: float
) -> tuple[dict, dict]:
    """Step 3: a run over 2 bodies × ``each`` records, then the CSV token-table download."""
    project = _project(url, operator, "load: run and download", ["gakko", "hoken"])
    pid = project["project_id"]
    paths = [work / "gakko.kkh", work / "hoken.kkh"]
    write_linkable_encodings(paths, each, schema_id=project["schema_id"], seed=7)
    for body, path in zip(["gakko", "hoken"], paths, strict=True):
        with ApiClient(url, project["credentials"]["bodies"][body], timeout=600) as client:
            client.upload(pid, path)
        path.unlink()

    coordinator = ApiClient(url, project["credentials"]["coordinator"], timeout=600)
    try:

        def run() -> tuple[dict[str, Any], list[str]]:
            started = coordinator.start_run(pid)
            return _wait_run(coordinator, pid, started["run_id"], timeout=run_timeout)

        (status, poll_errors), run_seconds, run_rss = measured(server, run)
        run_report = {
            "records": 2 * each,
            "status": status["status"],
            "error": status.get("error"),
            "status_poll_errors": len(poll_errors),
            "first_status_poll_error": poll_errors[0] if poll_errors else None,
            "stats": status.get("stats"),
            "seconds": round(run_seconds, 2),
            "server_rss_baseline_mb": _mb(run_rss.baseline),
            "server_rss_peak_mb": _mb(run_rss.peak),
        }
        if status["status"] != "done":
            return run_report, {"ok": False, "error": "the run did not finish"}
        table = work / "tokens.csv"
        written, seconds, rss = measured(
            server,
            lambda: coordinator.download(
                f"/projects/{pid}/results/tokens", table, params={"format": "csv"}
            ),
        )
    finally:
        coordinator.close()
    with table.open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    table.unlink()
    growth = max(0, rss.peak - rss.baseline)
    return run_report, {
        "rows": rows,
        "bytes": written,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "server_rss_baseline_mb": _mb(rss.baseline),
        "server_rss_peak_mb": _mb(rss.peak),
        "server_rss_growth_mb": _mb(growth),
        "growth_over_table": round(growth / written, 4) if written else None,
        "streamed": (
            growth < STREAMING_FRACTION * written if written >= STREAMING_MIN_TABLE else None
        ),
        "ok": rows == 2 * each,
        "rss_samples": rss.samples,
    }


# -- report ----------------------------------------------------------------------------


def run_benchmark(sizes: Sizes, *, run_timeout: float = 900.0) -> dict[str, Any]:
    """Start a server in a temporary folder, run the three steps, stop it; the report."""
    with tempfile.TemporaryDirectory(prefix="kakehashi-load-") as tmp:
        work = Path(tmp) / "client"
        work.mkdir()
        data_dir = Path(tmp) / "server"
        with _server(data_dir) as (url, server, operator):
            idle_rss = process_tree_rss(server)
            upload = bench_upload(url, server, operator, work, sizes.upload)
            concurrent = bench_concurrent(
                url, server, operator, work, sizes.concurrent_bodies, sizes.concurrent_each
            )
            run, download = bench_run_and_download(
                url, server, operator, work, sizes.run_each, run_timeout=run_timeout
            )
        problems = server_log_problems(data_dir / "server.log")
    return {
        "date": date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / (1 << 30), 1),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "database": "SQLite (temporary data folder)",
        },
        "sizes": sizes.__dict__,
        "server_rss_idle_mb": _mb(idle_rss),
        "upload": upload,
        "concurrent": concurrent,
        "run": run,
        "download": download,
        "server_log_problems": problems,
        "targets": {
            "upload_seconds_max": UPLOAD_SECONDS_TARGET,
            "upload_rss_max_mb": _mb(UPLOAD_RSS_TARGET),
            "upload_met": upload["ok"]
            and upload["seconds"] <= UPLOAD_SECONDS_TARGET
            and upload["server_rss_peak_mb"] <= _mb(UPLOAD_RSS_TARGET),
            "concurrent_all_succeeded": concurrent["ok"],
            "download_streamed": download.get("streamed"),
            "streaming_rule": f"RSS growth < {STREAMING_FRACTION} × table bytes "
            f"(judged for tables ≥ {_mb(STREAMING_MIN_TABLE)} MB)",
        },
    }


def to_markdown(report: dict[str, Any]) -> str:
    """A short Markdown summary of :func:`run_benchmark`'s report."""
    m, up, co, run, dl, t = (
        report[k] for k in ("machine", "upload", "concurrent", "run", "download", "targets")
    )
    yes = {True: "yes", False: "**NO**", None: "not judged (small table)"}
    lines = [
        f"# Server load benchmark ({report['date']})",
        "",
        f"Real `kakehashi serve` on 127.0.0.1, SQLite; {m['cpus']} CPUs, {m['memory_gb']} GB, "
        f"Python {m['python']}. Server RSS sampled every 50 ms (idle: "
        f"{report['server_rss_idle_mb']} MB).",
        "",
        "| step | size | wall | server peak RSS | result |",
        "|---|---|---|---|---|",
        f"| one upload | {up['records']:,} records, {_mb(up['bytes'])} MB | {up['seconds']} s | "
        f"{up['server_rss_peak_mb']} MB | {up['records_per_s']:,} rec/s; "
        f"target ≤ {t['upload_seconds_max']} s and ≤ {t['upload_rss_max_mb']} MB met: "
        f"{yes[t['upload_met']]} |",
        f"| concurrent uploads | {co['bodies']} × {co['records_each']:,} | {co['seconds']} s | "
        f"{co['server_rss_peak_mb']} MB | {co['succeeded']}/{co['bodies']} succeeded "
        f"(slowest {co['slowest_upload_s']} s) |",
        f"| run | 2 × {run['records'] // 2:,} | {run['seconds']} s | "
        f"{run['server_rss_peak_mb']} MB | {run['status']} |",
    ]
    if "rows" in dl:
        lines.append(
            f"| token table CSV | {dl['rows']:,} rows, {_mb(dl['bytes'])} MB | {dl['seconds']} s | "
            f"{dl['server_rss_peak_mb']} MB (+{dl['server_rss_growth_mb']} MB) | "
            f"growth / table = {dl['growth_over_table']}; streamed: {yes[dl['streamed']]} |"
        )
    if run.get("status_poll_errors"):
        lines += [
            "",
            f"{run['status_poll_errors']} run-status request(s) failed during the run; first: "
            f"{run['first_status_poll_error']}",
        ]
    if report["server_log_problems"]:
        lines += ["", "Server log errors (first lines):", ""]
        lines += [f"    {line}" for line in report["server_log_problems"][:5]]
    if co["errors"]:
        lines += ["", "Concurrent upload errors:", *[f"* {e}" for e in co["errors"]]]
    lines += [
        "",
        f"Streaming rule: {t['streaming_rule']}. The machine may be shared; wall times are "
        "one measurement each.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run the benchmark, write ``server_load.json`` and ``.md`` to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_load", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 k / 10 × 10 k / 2 × 50 k")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<date>")
    parser.add_argument("--upload", type=int, help="records in the single upload")
    parser.add_argument("--concurrent-bodies", type=int, help="simultaneous uploads")
    parser.add_argument("--concurrent-each", type=int, help="records per simultaneous upload")
    parser.add_argument("--run-each", type=int, help="records per body in the run")
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds")
    args = parser.parse_args(argv)
    base = Sizes.quick() if args.quick else Sizes.full()
    sizes = Sizes(
        upload=args.upload or base.upload,
        concurrent_bodies=args.concurrent_bodies or base.concurrent_bodies,
        concurrent_each=args.concurrent_each or base.concurrent_each,
        run_each=args.run_each or base.run_each,
    )
    report = run_benchmark(sizes, run_timeout=args.run_timeout)
    out = args.out or Path("benchmarks/results") / date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    (out / "server_load.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(report)
    (out / "server_load.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return report


if __name__ == "__main__":
    main()
