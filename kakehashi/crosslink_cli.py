"""``kakehashi crosslink``: linkage across municipalities (issue 15).

Coordinators: ``propose``, ``approve``, ``withdraw``, ``status``, ``run``, ``results``.
Bodies: ``upload`` (encodings made with the joint secret, re-keyed to the refs of the
body's project upload on the body's own machine).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from encoders.cli import CredentialOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)

CrossOpt = Annotated[
    str, typer.Option("--crosslink", envvar="KAKEHASHI_CROSSLINK", help="Cross-link id.")
]

_STATUS_JA = {
    "proposed": "承認待ち",
    "open": "承認済み（アップロード・実行可）",
    "withdrawn": "取り下げ済み",
}


def _client(server: str, credential: Path) -> Any:
    from apiclient import ApiClient, read_credential

    return ApiClient(server, read_credential(credential))


def _print_status(view: dict[str, Any]) -> None:
    status = view["status"]
    out.print(
        f"crosslink {view['crosslink_id']} 「{view['name']}」: {status} "
        f"（{_STATUS_JA.get(status, status)}）"
    )
    for member in view["members"]:
        approved = "approved 承認済み" if member["approved"] else "not approved 未承認"
        uploaded = "uploaded アップロード済み" if member["uploaded"] else "no upload 未アップロード"
        line = f"  {member['project_id']} {member.get('name') or ''}: {approved}, {uploaded}"
        counts = member.get("upload_counts")
        if counts:
            line += " (" + ", ".join(f"{b} {n}" for b, n in counts.items()) + ")"
        out.print(line)
    run = view.get("latest_run")
    if run:
        own = run.get("own") or {}
        extra = f", this project's linked records {own['linked']}" if own else ""
        out.print(f"  latest run {run['run_id']}: {run['status']}{extra}")


def propose(
    server: ServerOpt,
    credential: CredentialOpt,
    name: Annotated[str, typer.Option("--name", help="A name both cities recognise.")],
    project: Annotated[
        list[str], typer.Option("--project", help="A member project id (repeat, ≥ 2).")
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Dice threshold (default: the members' strictest, at least 0.75)."
        ),
    ] = None,
) -> None:
    """Propose a cross-link between projects (operator, or a member's coordinator)."""
    with _client(server, credential) as client:
        view = client.propose_crosslink(name, project, threshold=threshold)
    _print_status(view)
    out.print(
        "every member project's coordinator must now approve it: kakehashi crosslink approve "
        f"--crosslink {view['crosslink_id']}（各自治体のコーディネーターの承認が必要です）"
    )


def approve(server: ServerOpt, credential: CredentialOpt, crosslink: CrossOpt) -> None:
    """Approve the cross-link for your project (coordinator)."""
    with _client(server, credential) as client:
        view = client.approve_crosslink(crosslink)
    out.print("approved（承認しました）")
    _print_status(view)


def withdraw(
    server: ServerOpt,
    credential: CredentialOpt,
    crosslink: CrossOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Withdraw from the cross-link (coordinator): it ends, its encodings and results go."""
    if not yes:
        typer.confirm(
            "Withdraw? The cross-link ends for every city and its encodings and results are "
            "deleted（取り下げると全自治体で終了し、符号と結果は削除されます）",
            abort=True,
        )
    with _client(server, credential) as client:
        view = client.withdraw_crosslink(crosslink)
    out.print("withdrawn（取り下げました）")
    _print_status(view)


def status(
    server: ServerOpt,
    credential: CredentialOpt,
    crosslink: Annotated[
        str | None,
        typer.Option(
            "--crosslink", envvar="KAKEHASHI_CROSSLINK", help="Cross-link id (default: all)."
        ),
    ] = None,
) -> None:
    """Show a cross-link's approvals, uploads and latest run (or all you take part in)."""
    with _client(server, credential) as client:
        views = [client.crosslink(crosslink)] if crosslink else client.crosslinks()
    if not views:
        out.print("no cross-links（参加している広域連携はありません）")
    for view in views:
        _print_status(view)


def run(server: ServerOpt, credential: CredentialOpt, crosslink: CrossOpt) -> None:
    """Run the cross-link (coordinator; only once every coordinator approved)."""
    with _client(server, credential) as client:
        started = client.start_crosslink_run(crosslink)
        out.print(f"cross run {started['run_id']} started（実行を開始しました）")
        done = client.wait_crosslink_run(crosslink, started["run_id"])
    if done["status"] != "done":
        out.print(f"cross run {done['run_id']}: {done['status']} {done.get('error') or ''}")
        raise typer.Exit(1)
    own = done.get("own") or {}
    out.print(
        f"cross run {done['run_id']}: done — {done.get('linked_groups', 0)} links across the "
        f"cities; this project's records linked: {own.get('linked', 0)}"
        f"（他自治体と連結された自団体の記録: {own.get('linked', 0)} 件）"
    )


def results(
    server: ServerOpt,
    credential: CredentialOpt,
    crosslink: CrossOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="CSV or JSON file to write.")] = Path(
        "crosslink.csv"
    ),
) -> None:
    """Download your project's records that link to another city (coordinator): link id,
    body, ref and your own project's token. Nothing of the other city is included."""
    with _client(server, credential) as client:
        found = client.crosslink_results(crosslink)
    if output.suffix.lower() == ".json":
        output.write_text(json.dumps(found, ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["link", "token", "body", "ref"])
            for row in found["rows"]:
                writer.writerow([row["link"], row["token"], row["body"], row["ref"]])
    out.print(
        f"wrote {output}: {found['links']} children link to another city "
        f"（他自治体と連結された子ども: {found['links']} 人）"
    )
    if found["unresolved"]:
        out.print(
            f"warning: {found['unresolved']} records have no token in this project's latest run "
            "(the body's cross upload used other refs than its project upload)"
            f"（{found['unresolved']} 件はこの事業の最新の実行にトークンがありません）"
        )
    out.print(found["direction_note"])


def upload(
    encodings: Annotated[
        Path, typer.Argument(help="Encodings made with the joint secret (`kakehashi encode`).")
    ],
    server: ServerOpt,
    credential: CredentialOpt,
    crosslink: CrossOpt,
    keys: Annotated[
        Path, typer.Option("--keys", help="The keys file written with these encodings.")
    ],
    project_keys: Annotated[
        Path,
        typer.Option("--project-keys", help="The keys file of this body's project upload."),
    ],
) -> None:
    """Upload encodings made with the joint secret to a cross-link (body).

    The refs are first set back to those of the body's project upload for the same record
    (on this machine; the keys files are never sent), so that the coordinator finds its
    own project's tokens for the records that link to the other city.
    """
    import tempfile

    from encoders.crosslink import rekey_file

    with tempfile.TemporaryDirectory(prefix="kakehashi-cross-") as tmp:
        rekeyed = Path(tmp) / "crosslink.kkh"
        _, dropped = rekey_file(encodings, keys, project_keys, rekeyed)
        if dropped:
            out.print(
                f"note: {dropped} records are not in the project upload and are left out"
                f"（{dropped} 件は事業へのアップロードにないため除きました）"
            )
        with _client(server, credential) as client:
            result = client.upload_crosslink(crosslink, rekeyed)
    out.print(
        f"uploaded {result['count']} encodings to cross-link {crosslink} as {result['upload_id']}"
    )


def register(app: typer.Typer) -> None:
    cross = typer.Typer(
        help="Linkage across municipalities (both coordinators approve; own tokens only).",
        no_args_is_help=True,
    )
    cross.command("propose")(propose)
    cross.command("approve")(approve)
    cross.command("withdraw")(withdraw)
    cross.command("status")(status)
    cross.command("run")(run)
    cross.command("results")(results)
    cross.command("upload")(upload)
    app.add_typer(cross, name="crosslink")
