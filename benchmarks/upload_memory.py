"""Server memory for one large JSON encodings upload (issue 12, item 7).

Starts a real ``kakehashi serve`` on 127.0.0.1 (optionally from another source tree, e.g.
the code before the streaming reader, with ``--source``), uploads one clkhash-style JSON
file and one binary file of the same records, and samples the server's RSS meanwhile.
Reports the RSS growth (peak − baseline) and its ratio to the file size.

    python -m benchmarks.upload_memory --records 200000 --out benchmarks/results/<date>/
    python -m benchmarks.upload_memory --source /tmp/before --label before ...
"""

from __future__ import annotations

import argparse
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

import httpx
import numpy as np
import psutil

from apiclient import ApiClient, read_credential
from benchmarks.memory import RssSampler
from linkage.container import Encodings, new_refs, to_json_bytes, write_encodings

FINGERPRINT = "BE4C-0000-0000-0007"
MB = 1 << 20


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data_dir: Path, source: Path | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    log = (data_dir.parent / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "kakehashi", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(source or Path.cwd()),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited; see server.log")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def measure(records: int, source: Path | None, work: Path) -> dict[str, Any]:
    data_dir = work / "data"
    process, url = _start(data_dir, source)
    try:
        server = psutil.Process(process.pid)
        operator = read_credential(data_dir / "operator.credential")
        with ApiClient(url, operator) as client:
            project = client.create_project({"name": "memory", "bodies": ["json", "binary"]})
        rng = np.random.default_rng(7)
        clks = np.packbits(rng.random((records, 1024)) < 0.25, axis=1)
        enc = Encodings(new_refs(records), clks, 1024, project["schema_id"], FINGERPRINT)
        json_path, bin_path = work / "e.json", work / "e.kkh"
        json_path.write_bytes(to_json_bytes(enc))
        write_encodings(bin_path, enc, "binary")
        out: dict[str, Any] = {}
        for name, path in (("json", json_path), ("binary", bin_path)):
            cred = project["credentials"]["bodies"][name]
            time.sleep(1.0)  # let the baseline settle
            with ApiClient(url, cred, timeout=600) as client, RssSampler(server, 0.02) as rss:
                started = time.perf_counter()
                answer = client.upload(project["project_id"], path)
                seconds = time.perf_counter() - started
            size = path.stat().st_size
            growth = rss.peak - rss.baseline
            out[name] = {
                "file_bytes": size,
                "file_mib": round(size / MB, 1),
                "stored": answer["count"],
                "seconds": round(seconds, 2),
                "rss_baseline_mib": round(rss.baseline / MB, 1),
                "rss_peak_mib": round(rss.peak / MB, 1),
                "rss_growth_mib": round(growth / MB, 1),
                "growth_to_file_ratio": round(growth / size, 2),
                "samples": rss.samples,
            }
        return out
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--source", type=Path, default=None, help="run the server from here")
    parser.add_argument("--label", default="after")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results") / str(date.today()))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "benchmark": "upload_memory",
            "label": args.label,
            "source": str(args.source) if args.source else "this tree",
            "date": str(date.today()),
            "machine": platform.platform(),
            "records": args.records,
            **measure(args.records, args.source, Path(tmp)),
        }
    path = args.out / f"upload_memory-{args.label}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
