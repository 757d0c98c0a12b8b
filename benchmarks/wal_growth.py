"""SQLite database and WAL size over repeated runs (issue 12, item 17), with and without the
checkpoint-and-prune after each run.

A real ``kakehashi serve`` (SQLite) links two bodies of ``--records`` random encodings each,
``--runs`` times, each body replacing its upload between runs (so every run writes a new
token table of 2 × records rows). After each run the sizes of ``kakehashi.db`` and
``kakehashi.db-wal`` are read. ``--no-checkpoint`` turns the checkpoint off
(``KAKEHASHI_SQLITE_CHECKPOINT=false``) to show the growth it prevents; superseded runs'
token rows are pruned in both cases.

    python -m benchmarks.wal_growth --records 50000 --runs 3 --out benchmarks/results/<date>/
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from apiclient import ApiClient, read_credential
from kakehashi.demo import running_server
from linkage.container import Encodings, new_refs, write_encodings

FINGERPRINT = "3A11-0000-0000-0017"
MB = 1 << 20


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def measure(records: int, runs: int, checkpoint: bool) -> dict[str, Any]:
    os.environ["KAKEHASHI_SQLITE_CHECKPOINT"] = "true" if checkpoint else "false"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work, data_dir = Path(tmp), Path(tmp) / "data"
        with running_server(data_dir) as url:
            operator = read_credential(data_dir / "operator.credential")
            with ApiClient(url, operator) as client:
                project = client.create_project({"name": "wal", "bodies": ["a", "b"]})
            pid = project["project_id"]
            rng = np.random.default_rng(17)
            for n in range(runs):
                for body in ("a", "b"):
                    clks = np.packbits(rng.random((records, 1024)) < 0.25, axis=1)
                    path = work / f"{body}.kkh"
                    write_encodings(
                        path,
                        Encodings(new_refs(records), clks, 1024, project["schema_id"], FINGERPRINT),
                    )
                    cred = project["credentials"]["bodies"][body]
                    with ApiClient(url, cred, timeout=600) as client:
                        client.upload(pid, path, mode="replace")
                with ApiClient(url, project["credentials"]["coordinator"], timeout=600) as client:
                    started = time.perf_counter()
                    status = client.wait_run(pid, client.start_run(pid)["run_id"], poll=1.0)
                    seconds = time.perf_counter() - started
                time.sleep(1.0)  # the worker's housekeeping follows the run's last commit
                rows.append(
                    {
                        "run": n + 1,
                        "status": status["status"],
                        "token_rows_written": (status.get("stats") or {}).get("records"),
                        "run_seconds": round(seconds, 1),
                        "db_mib": round(_size(data_dir / "kakehashi.db") / MB, 1),
                        "wal_mib": round(_size(data_dir / "kakehashi.db-wal") / MB, 1),
                    }
                )
    os.environ.pop("KAKEHASHI_SQLITE_CHECKPOINT", None)
    return {"checkpoint": checkpoint, "runs": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="records per body")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results") / str(date.today()))
    args = parser.parse_args(argv)
    result = {
        "benchmark": "wal_growth (SQLite; 2 bodies; each run writes 2 × records token rows)",
        "date": str(date.today()),
        "machine": platform.platform(),
        "records_per_body": args.records,
        "with_checkpoint": measure(args.records, args.runs, True),
        "without_checkpoint": measure(args.records, args.runs, False),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wal_growth.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
