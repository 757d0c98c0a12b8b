"""Coordinator (and operator) commands: ``project create``, ``run``, ``results``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from encoders.cli import CredentialOpt, ProjectOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)


def project_create(
    name: Annotated[str, typer.Option("--name", help="Project name, e.g. 2026年度 子ども支援.")],
    body: Annotated[
        list[str], typer.Option("--body", help="A participating body's name (repeat, ≥ 2).")
    ],
    server: ServerOpt,
    credential: Annotated[
        Path,
        typer.Option(
            "--credential",
            envvar="KAKEHASHI_OPERATOR_CREDENTIAL",
            help="The operator credential file (written by `kakehashi serve` on first start).",
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the credentials to hand out.")
    ] = Path("credentials"),
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Linkage schema JSON (default: built-in).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Dice threshold (default: schema's).")
    ] = None,
    dedup: Annotated[
        list[str] | None,
        typer.Option("--dedup", help="Body whose own records may be merged (deduplication)."),
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option("--catalogue", help="Signal catalogue (TOML/JSON) to set on the project."),
    ] = None,
    coordinator_key: Annotated[
        Path | None,
        typer.Option("--coordinator-key", help="Coordinator public key (.pub.pem) to set."),
    ] = None,
) -> None:
    """Create a linkage project; writes one credential file per body and the coordinator's."""
    from apiclient import ApiClient, read_credential
    from linkage.schema import load_schema

    if len(set(body)) < 2:
        raise typer.BadParameter("a project needs at least two different --body names")
    the_schema = load_schema(schema)
    request: dict[str, object] = {
        "name": name,
        "bodies": body,
        "schema": the_schema.document,
        "dedup_bodies": list(dedup or []),
    }
    if threshold is not None:
        request["threshold"] = threshold
    with ApiClient(server, read_credential(credential)) as client:
        created = client.create_project(request)
    out_dir.mkdir(parents=True, exist_ok=True)
    credentials = created["credentials"]
    _write_private(out_dir / "coordinator.credential", credentials["coordinator"])
    _write_private(out_dir / "coordinator.recovery", credentials["recovery"])
    for body_name, secret in credentials["bodies"].items():
        _write_private(out_dir / f"body-{body_name}.credential", secret)
    info = {k: v for k, v in created.items() if k != "credentials"}
    (out_dir / "project.json").write_text(json.dumps(info, ensure_ascii=False, indent=2))
    out.print(f"project {created['project_id']} created (schema {created['schema_id'][:12]}…)")
    out.print(f"credentials written to {out_dir}/ — hand each body its own file out of band;")
    out.print("they are shown only once and the server keeps only their hashes.")
    if catalogue is not None or coordinator_key is not None:
        from kakehashi.signals_cli import apply_on_create

        apply_on_create(
            server, created["project_id"], credentials["coordinator"], catalogue, coordinator_key
        )
    out.print(
        "coordinator: run `kakehashi credentials take-over` now if someone else (e.g. the "
        "operator) created this project, so that nothing they saw stays valid; keep "
        "coordinator.recovery offline, apart from coordinator.credential."
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")


def run(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = True,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Follow a run already started (e.g. after losing the server) instead of "
            "starting a new one.",
        ),
    ] = None,
) -> None:
    """Start a linkage run (coordinator), or follow one with --run-id."""
    from apiclient import ApiClient, ApiError, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        following = run_id is not None
        if run_id is None:
            started = client.start_run(project)
            run_id = started["run_id"]
            out.print(f"run {run_id} started (実行を開始しました)")
            for warning in started.get("warnings") or []:
                out.print(f"warning: {warning}")
        if not wait:
            if following:
                out.print(f"run {run_id}: {client.run_status(project, run_id)['status']}")
            return
        try:
            status = client.wait_run(project, run_id)
        except ApiError as exc:
            out.print(f"lost the server while waiting for run {run_id}: {exc}")
            out.print(
                f"the run goes on on the server; check it later with: kakehashi run "
                f"--server {server} --project {project} --credential {credential} "
                f"--run-id {run_id}"
            )
            out.print(f"（サーバーとの接続が切れました。実行ID {run_id} で後から確認できます）")
            raise typer.Exit(2) from exc
    if status["status"] != "done":
        out.print(f"run {run_id}: {status['status']} {status.get('error') or ''}")
        raise typer.Exit(1)
    stats = status.get("stats") or {}
    summary = ", ".join(f"{k} {v}" for k, v in stats.items() if isinstance(v, int | float))
    out.print(f"run {run_id}: done {('— ' + summary) if summary else ''}")
    for warning in status.get("warnings") or []:
        out.print(f"warning: {warning}")


def results(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="File to write (default: tokens.csv, or mapping.csv with --mine)."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    mine: Annotated[
        bool,
        typer.Option("--mine", help="As a body: download only this body's ref → token mapping."),
    ] = False,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Coordinator: list the tokens whose groups need a person's review (e.g. twins).",
        ),
    ] = False,
) -> None:
    """Download the token table (coordinator) or, with --mine, a body's own mapping."""
    from apiclient import ApiClient, read_credential

    if fmt not in ("csv", "json"):
        raise typer.BadParameter("--format must be csv or json")
    if review:
        with ApiClient(server, read_credential(credential)) as client:
            flagged = client.get_json(f"/projects/{project}/results/review")
        output = output or Path(f"review.{fmt}")
        if fmt == "json":
            output.write_text(json.dumps(flagged, indent=2))
        else:
            lines = ["token,records"] + [f"{t['token']},{t['records']}" for t in flagged["tokens"]]
            output.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.print(f"{len(flagged['tokens'])} tokens need review; wrote {output}")
        return
    what = "mapping" if mine else "tokens"
    output = output or Path(f"{what}.{fmt}")
    with ApiClient(server, read_credential(credential)) as client:
        size, headers = client.download_with_headers(
            f"/projects/{project}/results/{what}", output, params={"format": fmt}
        )
    out.print(f"wrote {output} ({size:,} bytes)")
    if headers.get("x-kakehashi-stale") == "true":
        out.print(
            f"warning: these results are stale: run {headers.get('x-kakehashi-run-id')} "
            f"took its inputs at {headers.get('x-kakehashi-run-created')}, but encodings were "
            f"uploaded at {headers.get('x-kakehashi-last-upload')}; start a new run for "
            "current results（結果は最新のアップロードを反映していません）"
        )


def register(app: typer.Typer) -> None:
    project_app = typer.Typer(help="Create and inspect linkage projects.", no_args_is_help=True)
    project_app.command("create")(project_create)
    app.add_typer(project_app, name="project")
    from kakehashi import signals_cli

    signals_cli.register(app, project_app)
    app.command("run")(run)
    app.command("results")(results)
