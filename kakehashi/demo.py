"""``kakehashi demo``: the whole workflow over HTTP on 127.0.0.1, no manual steps.

A synthetic municipality's bodies export CSVs; a linkage server starts on a free port with
a SQLite file; the coordinator creates a project; each body encodes its export with the
shared secret and uploads; the coordinator runs the linkage and downloads the token
table; the demo then scores the tokens against the generator's truth.
"""

from __future__ import annotations

import contextlib
import csv
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from kakehashi.evaluation import read_token_table, score

out = Console(soft_wrap=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(data_dir: Path, *, port: int | None = None) -> Iterator[str]:
    """Start ``kakehashi serve`` as a real process; yield its URL; stop it afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = (data_dir / "server.log").open("ab")
    command = [
        sys.executable, "-m", "kakehashi", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within 60 s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def kakehashi(*args: str | Path) -> None:
    """Run one ``kakehashi`` subcommand in this process, echoing it like a shell would."""
    from kakehashi.cli import main

    words = [str(a) for a in args]
    out.print(f"[dim]$ kakehashi {shlex.join(words)}[/dim]", highlight=False)
    try:
        main(words)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"`kakehashi {words[0]}` failed with status {exc.code}") from None


def run_demo(workdir: Path, *, children: int = 2000, seed: int = 2026) -> dict[str, float]:
    """Run the demo in ``workdir`` (recreated); return the summary numbers."""
    from synthetic import generate

    started = time.perf_counter()
    if workdir.exists():
        shutil.rmtree(workdir)
    exports = workdir / "exports"
    exports.mkdir(parents=True)
    out.rule("1. a synthetic municipality exports its records")
    municipality = generate(children, seed=seed)
    files = municipality.write_exports(exports)
    truth_path = workdir / "truth.csv"
    municipality.write_truth(truth_path)
    for body, path in files.items():
        rows = sum(1 for _ in path.open("rb")) - 1
        out.print(f"  {body:8s} {path}  ({rows} rows)")

    with running_server(workdir / "server") as url:
        out.rule(f"2. linkage server on {url}")
        operator = workdir / "server" / "operator.credential"
        creds = workdir / "coordinator" / "credentials"
        kakehashi(
            "project", "create", "--server", url, "--credential", operator,
            "--name", "架橋市 こども支援 デモ", "--out", creds,
            *[arg for body in files for arg in ("--body", body)],
        )  # fmt: skip
        project = _project_id(creds / "project.json")

        out.rule("3. the bodies share a secret, encode locally and upload")
        secret = workdir / "shared-secret.txt"
        kakehashi("secret", "new", secret)
        for body, path in files.items():
            body_dir = workdir / body
            body_dir.mkdir()
            encodings = body_dir / f"{body}.kkh"
            kakehashi(
                "encode", path, "--secret", secret, "--out", encodings,
                "--keys", body_dir / f"{body}.keys.csv",
            )  # fmt: skip
            kakehashi(
                "upload", encodings, "--server", url, "--project", project,
                "--credential", creds / f"body-{body}.credential",
            )  # fmt: skip

        out.rule("4. the coordinator runs the linkage and downloads the token table")
        coordinator = creds / "coordinator.credential"
        kakehashi("run", "--server", url, "--project", project, "--credential", coordinator)
        tokens = workdir / "coordinator" / "tokens.csv"
        kakehashi(
            "results", "--server", url, "--project", project, "--credential", coordinator,
            "--out", tokens,
        )  # fmt: skip
        review = workdir / "coordinator" / "review.csv"
        kakehashi(
            "results", "--review", "--server", url, "--project", project,
            "--credential", coordinator, "--out", review,
        )  # fmt: skip
        for body in files:
            kakehashi(
                "results", "--mine", "--server", url, "--project", project,
                "--credential", creds / f"body-{body}.credential",
                "--out", workdir / body / "mapping.csv",
            )  # fmt: skip

    out.rule("5. how good is it? (only possible here: the demo knows the truth)")
    from encoders.keys import read_keys

    keys = {body: read_keys(workdir / body / f"{body}.keys.csv") for body in files}
    truth = _read_truth(truth_path)
    result = score(read_token_table(tokens), keys, truth)
    elapsed = time.perf_counter() - started
    table = Table(title="Kakehashi demo")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("records linked", f"{result.records:,}")
    table.add_row("tokens (groups, singletons included)", f"{result.tokens:,}")
    for n_bodies, count in result.groups_by_bodies.items():
        table.add_row(
            f"  groups spanning {n_bodies} bod{'y' if n_bodies == 1 else 'ies'}", f"{count:,}"
        )
    flagged = sum(1 for _ in review.open(encoding="utf-8")) - 1
    table.add_row("groups flagged for review (e.g. twins)", f"{flagged:,}")
    table.add_row("true cross-body pairs", f"{result.true_pairs:,}")
    table.add_row("precision", f"{result.precision:.4f}")
    table.add_row("recall", f"{result.recall:.4f}")
    table.add_row("wall time", f"{elapsed:.1f} s")
    out.print(table)
    out.print(f"""Files are in {workdir}/:
  exports/                 what each body's system exported (synthetic people only)
  <body>/<body>.kkh        the encodings each body uploaded (CLKs + random refs)
  <body>/<body>.keys.csv   ref → record id; stays with the body
  <body>/<body>.kkh.report.csv   the validation report for that export
  <body>/mapping.csv       the body's own ref → token mapping
  coordinator/tokens.csv   the coordinator's token table (token, body, ref)
  coordinator/review.csv   tokens whose groups a person should check (near-ties, twins)
  server/                  the server's SQLite database and log
Look at them with e.g.:  head {tokens}
  or ask a body to resolve a ref:  kakehashi resolve {workdir}/gakko/gakko.keys.csv <ref>""")
    return {
        "precision": result.precision,
        "recall": result.recall,
        "tokens": float(result.tokens),
        "seconds": elapsed,
    }


def _project_id(path: Path) -> str:
    import json

    return str(json.loads(path.read_text())["project_id"])


def _read_truth(path: Path) -> dict[tuple[str, str], str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(r["body"], r["record_id"]): r["person_id"] for r in csv.DictReader(handle)}


def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Working folder (recreated).")] = Path(
        "kakehashi-demo"
    ),
    children: Annotated[int, typer.Option(help="Children in the synthetic municipality.")] = 2000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 2026,
) -> None:
    """Run the whole workflow on a synthetic municipality and print precision and recall."""
    run_demo(workdir.resolve(), children=children, seed=seed)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
