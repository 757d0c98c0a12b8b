"""``kakehashi demo``: the whole workflow over HTTP on 127.0.0.1, no manual steps.

A synthetic municipality's bodies export CSVs (with support signals and planted children
whose need shows only across departments); a linkage server starts on a free port with a
SQLite file; the coordinator makes its key pair and creates a project with the signal
catalogue and its public key; each body encodes its export with the shared secret, seals
its signals to the coordinator and uploads; the coordinator runs the linkage, downloads
the token table and makes the support list on its own machine. The demo then scores the
tokens against the generator's truth, and the support list against the planted children
and the status quo (each department alone; exact name + birth date linkage).
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
from datetime import date
from pathlib import Path
from typing import Annotated, Any

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


DEMO_PASSPHRASE = "demo-only passphrase (a real coordinator types its own)"
EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "ja" / "examples"
RULE_FILES = ("rules_mishugaku_kenshin.toml", "rules_fukusu_konnan.toml")


def demo_rules(path: Path) -> Path:
    """The demo's rule file: the two example rule files of docs/ja/examples, together."""
    texts = []
    for name in RULE_FILES:
        source = EXAMPLES / name
        if not source.exists():
            raise RuntimeError(f"{source} is missing: the demo uses the example rule files")
        texts.append(source.read_text(encoding="utf-8"))
    first, second = texts
    combined = first.rstrip() + "\n\n" + second[second.index("[[rule]]") :]
    combined = combined.replace('# reference_date = "2026-04-01"', 'reference_date = "2026-04-01"')
    path.write_text(combined, encoding="utf-8")
    return path


def _write_signal_map(path: Path, body: str, columns: dict[str, str]) -> Path:
    lines = [f'body = "{body}"', ""]
    for code, header in columns.items():
        lines += [f"[signals.{code}]", f'column = "{header}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_demo(
    workdir: Path, *, children: int = 2000, seed: int = 2026, signals: bool = True
) -> dict[str, float]:
    """Run the demo in ``workdir`` (recreated); return the summary numbers."""
    import json
    import os

    from synthetic import generate
    from synthetic.signals import demo_catalogue_dict, signal_map

    started = time.perf_counter()
    if workdir.exists():
        shutil.rmtree(workdir)
    exports = workdir / "exports"
    exports.mkdir(parents=True)
    out.rule("1. a synthetic municipality exports its records")
    municipality = generate(children, seed=seed, signals=signals)
    files = municipality.write_exports(exports)
    truth_path = workdir / "truth.csv"
    municipality.write_truth(truth_path)
    if signals:
        municipality.write_planted(workdir / "planted.csv")
        os.environ.setdefault("KAKEHASHI_KEY_PASSPHRASE", DEMO_PASSPHRASE)
    for body, path in files.items():
        rows = sum(1 for _ in path.open("rb")) - 1
        out.print(f"  {body:8s} {path}  ({rows} rows)")

    with running_server(workdir / "server") as url:
        out.rule(f"2. linkage server on {url}")
        operator = workdir / "server" / "operator.credential"
        creds = workdir / "coordinator" / "credentials"
        signal_args: list[str | Path] = []
        if signals:
            keys_dir = workdir / "coordinator" / "keys"
            kakehashi("keys", "new", "--out", keys_dir)
            catalogue_path = workdir / "coordinator" / "catalogue.json"
            catalogue_path.write_text(
                json.dumps(demo_catalogue_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
            )
            signal_args = [
                "--catalogue", catalogue_path,
                "--coordinator-key", keys_dir / "coordinator.pub.pem",
            ]  # fmt: skip
        kakehashi(
            "project", "create", "--server", url, "--credential", operator,
            "--name", "架橋市 こども支援 デモ", "--out", creds,
            *[arg for body in files for arg in ("--body", body)], *signal_args,
        )  # fmt: skip
        project = _project_id(creds / "project.json")
        fingerprint = ""
        if signals:
            from coordinator.keys import fingerprint_of, read_public_key

            fingerprint = fingerprint_of(read_public_key(keys_dir / "coordinator.pub.pem"))

        out.rule("3. the bodies share a secret, encode locally and upload")
        secret = workdir / "shared-secret.txt"
        kakehashi("secret", "new", secret)
        for body, path in files.items():
            body_dir = workdir / body
            body_dir.mkdir()
            encodings = body_dir / f"{body}.kkh"
            body_credential = creds / f"body-{body}.credential"
            sealing: list[str | Path] = []
            upload_signals: list[str | Path] = []
            if signals and signal_map(body):
                signal_file = _write_signal_map(body_dir / "signals.toml", body, signal_map(body))
                sealing = [
                    "--signals", signal_file, "--project", project, "--server", url,
                    "--credential", body_credential, "--key-fingerprint", fingerprint,
                ]  # fmt: skip
                upload_signals = ["--signals", encodings.with_name(f"{body}.signals.json")]
            kakehashi(
                "encode", path, "--secret", secret, "--out", encodings,
                "--keys", body_dir / f"{body}.keys.csv", *sealing,
            )  # fmt: skip
            kakehashi(
                "upload", encodings, "--server", url, "--project", project,
                "--credential", body_credential, *upload_signals,
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
        if signals:
            out.rule("5. the coordinator makes the support list on its own machine")
            rules_path = demo_rules(workdir / "coordinator" / "rules.toml")
            support_csv = workdir / "coordinator" / "support-list.csv"
            kakehashi(
                "support", "--rules", rules_path, "--key", keys_dir / "coordinator.key.pem",
                "--server", url, "--project", project, "--credential", coordinator,
                "--out", support_csv,
            )  # fmt: skip
            with httpx.Client(base_url=url, timeout=30) as http:
                audit = http.get(
                    f"/api/v1/projects/{project}/audit",
                    headers={"Authorization": "Bearer " + coordinator.read_text().strip()},
                ).json()["entries"]
            made = [e for e in audit if e["action"] == "support_list.made"]
            out.print(f"  audit log: {json.dumps(made[-1], ensure_ascii=False)}")

    out.rule("6. how good is it? (only possible here: the demo knows the truth)")
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
    summary: dict[str, float] = {}
    if signals:
        support = support_report(municipality, files, keys, tokens, rules_path, support_csv)
        summary = _support_rows(table, support)
    table.add_row("wall time", f"{elapsed:.1f} s")
    out.print(table)
    if signals:
        _print_missed(support["linkage"])
    out.print(f"""Files are in {workdir}/:
  exports/                 what each body's system exported (synthetic people only)
  <body>/<body>.kkh        the encodings each body uploaded (CLKs + random refs)
  <body>/<body>.keys.csv   ref → record id; stays with the body
  <body>/<body>.kkh.report.csv   the validation report for that export
  <body>/mapping.csv       the body's own ref → token mapping
  coordinator/tokens.csv   the coordinator's token table (token, body, ref)
  coordinator/review.csv   tokens whose groups a person should check (near-ties, twins)
  coordinator/keys/        the coordinator's key pair (private key passphrase-protected)
  coordinator/catalogue.json   the signal catalogue set on the project
  coordinator/rules.toml   the support rules (the two examples in docs/ja/examples)
  coordinator/support-list.csv   the support list (UTF-8 with BOM, for Excel) + .counts.csv
  <body>/<body>.signals.json   each body's signals, sealed to the coordinator's public key
  planted.csv              the planted children and why (the demo's truth)
  server/                  the server's SQLite database and log
Look at them with e.g.:  head {tokens}
  or ask a body to resolve a ref:  kakehashi resolve {workdir}/gakko/gakko.keys.csv <ref>""")
    _print_dashboard_command(workdir, project, coordinator, signals)
    return {
        "precision": result.precision,
        "recall": result.recall,
        "tokens": float(result.tokens),
        "seconds": elapsed,
        **summary,
    }


def support_report(
    municipality: Any,
    files: dict[str, Path],
    keys: dict[str, dict[str, str]],
    tokens: Path,
    rules_path: Path,
    support_csv: Path,
) -> dict[str, Any]:
    """Score the list the coordinator made, and the status quo's, against the planted
    children (``kakehashi.evaluation.support_comparison``)."""
    from coordinator.rules import load_rules
    from kakehashi.evaluation import support_comparison
    from linkage.signals import Catalogue
    from synthetic.signals import demo_catalogue_dict

    catalogue = Catalogue.from_dict(demo_catalogue_dict())
    rules = load_rules(rules_path, catalogue)
    groups = {(body, keys[body][ref]): token for token, body, ref in read_token_table(tokens)}
    return support_comparison(
        municipality,
        read_canonical(files),
        groups,
        rules,
        catalogue,
        rules.reference_date or date.today(),
        listed=read_support_csv(support_csv),
    )


def read_support_csv(path: Path) -> dict[str, set[str]]:
    """token -> rules, from the support list CSV the coordinator wrote."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return {row[0]: set(row[1].split(" / ")) for row in reader}


def read_canonical(files: dict[str, Path]) -> dict[str, list[dict[str, str]]]:
    """Each body's export as canonical records, read with the department reader."""
    from encoders.columns import resolve_columns
    from encoders.readers import open_table

    records: dict[str, list[dict[str, str]]] = {}
    for body, path in files.items():
        with open_table(path) as table:
            plan = resolve_columns(table.headers, file_label=table.file)
            records[body] = [plan.record(cells) for _, cells in table]
    return records


def _support_rows(table: Table, report: dict[str, Any]) -> dict[str, float]:
    linkage, exact = report["linkage"], report["exact"]
    n = linkage.n_planted
    kinds = ", ".join(f"{rule} {len(ids)}" for rule, ids in sorted(linkage.planted.items()))
    table.add_section()
    table.add_row("planted children (need visible only across departments)", f"{n}")
    table.add_row(f"  ({kinds})", "")
    table.add_row("found by the support list (Kakehashi linkage)", f"{len(linkage.found)} / {n}")
    table.add_row(
        "  planted children whose records linkage connected",
        f"{len(linkage.connected)} / {n}",
    )
    table.add_row("status quo: each department alone", f"{report['alone_found']} / {n}")
    table.add_row("status quo: exact kanji name + birth date linkage", f"{len(exact.found)} / {n}")
    table.add_row("children listed (Kakehashi)", f"{linkage.listed:,}")
    table.add_row("  listed for no planted reason", f"{linkage.unplanted:,}")
    table.add_row(
        "    of which meet a rule with perfect linkage (background cases)",
        f"{linkage.unplanted_background:,}",
    )
    table.add_row("    of which only because of linkage errors", f"{linkage.unplanted_linkage:,}")
    table.add_row("children a perfect linkage would list (same rules)", f"{report['ideal']:,}")
    table.add_row("children listed (exact name + birth date linkage)", f"{exact.listed:,}")
    table.add_row(
        "  listed for no planted reason (background; linkage errors)",
        f"{exact.unplanted:,} ({exact.unplanted_background:,}; {exact.unplanted_linkage:,})",
    )
    return {
        "planted": float(n),
        "planted_found": float(len(linkage.found)),
        "planted_connected": float(len(linkage.connected)),
        "planted_connected_not_found": float(len(linkage.connected - linkage.found)),
        "planted_found_alone": float(report["alone_found"]),
        "planted_found_exact": float(len(exact.found)),
        "listed": float(linkage.listed),
        "listed_unplanted": float(linkage.unplanted),
        "listed_linkage_errors": float(linkage.unplanted_linkage),
        "exact_listed": float(exact.listed),
        "exact_listed_linkage_errors": float(exact.unplanted_linkage),
    }


def _print_missed(linkage: Any) -> None:
    if not linkage.missed:
        out.print("Every planted child was found by the support list.")
        return
    out.print("Planted children the support list missed, and why:")
    for pid, rule, why in linkage.missed:
        out.print(f"  {pid}  {rule}: {why}")


def _print_dashboard_command(workdir: Path, project: str, credential: Path, signals: bool) -> None:
    """How to open the coordinator's dashboard on the demo project (the demo's server has
    stopped; its data folder is kept, so `kakehashi serve` on it brings the project back)."""
    port = 8000
    dashboard = [
        "kakehashi", "dashboard", "--server", f"http://127.0.0.1:{port}", "--project", project,
        "--credential", str(credential),
    ]  # fmt: skip
    if signals:
        dashboard += [
            "--key", str(workdir / "coordinator" / "keys" / "coordinator.key.pem"),
            "--rules", str(workdir / "coordinator" / "rules.toml"),
        ]  # fmt: skip
    serve = ["kakehashi", "serve", "--port", str(port), "--data-dir", str(workdir / "server")]
    out.rule("the coordinator's dashboard (ダッシュボード)")
    out.print("To look at this project in the browser, run in one terminal:", highlight=False)
    out.print(f"  {shlex.join(serve)}", highlight=False, markup=False)
    out.print("and in another (it opens http://127.0.0.1:8765/):", highlight=False)
    out.print(f"  {shlex.join(dashboard)}", highlight=False, markup=False)
    login = f"log in with the contents of {credential}"
    if signals:
        login += f" and the key passphrase {DEMO_PASSPHRASE!r}"
    out.print(f"  ({login})", highlight=False, markup=False)


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
    signals: Annotated[
        bool, typer.Option(help="Support signals, planted children and the support list.")
    ] = True,
) -> None:
    """Run the whole workflow on a synthetic municipality: precision and recall, and how
    many planted children the support list finds against the status quo."""
    run_demo(workdir.resolve(), children=children, seed=seed, signals=signals)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
