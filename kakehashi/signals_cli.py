"""Coordinator commands for support signals: key pair, catalogue, coordinator key, status.

``kakehashi keys new`` makes the coordinator's key pair on its own machine; ``kakehashi
project catalogue set/show``, ``project key set/show`` and ``project signals`` manage the
project's catalogue and public key on the server and show which bodies must (re-)upload.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from encoders.cli import CredentialOpt, ProjectOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)


def _group(fp: str) -> str:
    """A fingerprint for reading aloud: groups of four, e.g. ``7F3A 91C2 0B5D …``."""
    return fp.replace("-", " ")


def keys_new(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the two key files.")] = Path(
        "."
    ),
    name: Annotated[str, typer.Option("--name", help="File name stem.")] = "coordinator",
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
) -> None:
    """Make the coordinator's key pair: NAME.key.pem (private, passphrase) and NAME.pub.pem.

    The passphrase comes from KAKEHASHI_KEY_PASSPHRASE or is asked for twice. Keep the
    private key on this machine only; set the public key on the project with
    `kakehashi project key set` and read the fingerprint to each body by phone.
    """
    from coordinator.keys import new_private_key, read_passphrase, write_key_pair

    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"{name}.key.pem"
    public_path = out_dir / f"{name}.pub.pem"
    passphrase = read_passphrase(confirm=True)
    fp = write_key_pair(private_path, public_path, new_private_key(), passphrase, overwrite=force)
    out.print(f"private key: {private_path}  (passphrase-protected; never send it to anyone)")
    out.print(f"public key:  {public_path}  (set it on the project: kakehashi project key set)")
    out.print(f"fingerprint: {fp}")
    out.print(f"  read aloud: {_group(fp)}  — bodies compare this by phone before encrypting")


def keys_fingerprint(
    path: Annotated[Path, typer.Argument(help="A public key file (.pub.pem).")],
) -> None:
    """Print the fingerprint of a public key file."""
    from coordinator.keys import fingerprint_of, read_public_key

    out.print(fingerprint_of(read_public_key(path)))


def catalogue_set(
    path: Annotated[Path, typer.Argument(help="Catalogue file (TOML or JSON).")],
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
) -> None:
    """Set the project's signal catalogue (coordinator); a change becomes the next version."""
    from apiclient import ApiClient, read_credential
    from linkage.signals import load_catalogue

    catalogue = load_catalogue(path)
    with ApiClient(server, read_credential(credential)) as client:
        stored = client.set_signal_catalogue(project, catalogue.to_dict())
    what = "set as" if stored.get("changed") else "unchanged at"
    out.print(f"catalogue {what} version {stored['version']} ({len(stored['signals'])} signals)")
    for spec in stored["signals"]:
        out.print(
            f"  {spec['code']:<24} {spec['body']:<16} {spec['value_type']:<10} {spec['label']}"
        )


def catalogue_show(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    version: Annotated[int | None, typer.Option("--version", help="A past version.")] = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the catalogue (JSON) to a file.")
    ] = None,
) -> None:
    """Show the project's signal catalogue (coordinator or body)."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        doc = client.signal_catalogue(project, version)
    if output is not None:
        output.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {output} (catalogue version {doc['version']})")
        return
    out.print(f"catalogue version {doc['version']}")
    for spec in doc["signals"]:
        cats = f" {spec['categories']}" if spec.get("categories") else ""
        out.print(
            f"  {spec['code']} — {spec['label']} ({spec['body']}, {spec['value_type']}{cats})"
        )
        out.print(f"      目的: {spec['purpose']}")


def key_set(
    path: Annotated[Path, typer.Argument(help="The coordinator's public key file (.pub.pem).")],
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
) -> None:
    """Set the coordinator's public key on the project, or rotate to a new one.

    After a rotation the server refuses signals sealed to the old key; bodies encode and
    upload again (see `kakehashi project signals`).
    """
    from apiclient import ApiClient, read_credential
    from coordinator.keys import read_public_key
    from linkage.signals import public_key_raw

    raw = public_key_raw(read_public_key(path))
    with ApiClient(server, read_credential(credential)) as client:
        info = client.set_signal_key(project, base64.b64encode(raw).decode())
    if not info.get("changed"):
        out.print(f"key unchanged (version {info['key_version']}, {info['fingerprint']})")
        return
    out.print(f"coordinator key version {info['key_version']} set: {info['fingerprint']}")
    out.print(f"  read aloud: {_group(info['fingerprint'])}")
    if info["key_version"] > 1:
        out.print("  rotated: bodies must encode and upload their signals again")


def key_show(server: ServerOpt, project: ProjectOpt, credential: CredentialOpt) -> None:
    """Show the project's coordinator key version and fingerprint (coordinator or body)."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        info = client.signal_key(project)
    out.print(f"coordinator key version {info['key_version']}: {info['fingerprint']}")
    out.print(f"  read aloud: {_group(info['fingerprint'])}")


def signals_status(server: ServerOpt, project: ProjectOpt, credential: CredentialOpt) -> None:
    """Per body: the signals stored, and which bodies must upload (again) and why."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        status = client.signal_status(project)
    out.print(
        f"catalogue version {status['catalogue_version']}, coordinator key version "
        f"{status['key_version']} ({status['key_fingerprint']})"
    )
    for body in status["bodies"]:
        records = sum(u["records"] for u in body["uploads"] if u["current"])
        flag = f"MUST UPLOAD: {body['reason']}" if body["must_upload"] else "ok"
        codes = ", ".join(body["allowed_codes"]) or "(no signals)"
        out.print(f"  {body['body']}: {records} records with current signals — {flag}")
        out.print(f"      allowed: {codes}")
    if any(b["must_upload"] for b in status["bodies"]):
        raise typer.Exit(1)


def apply_on_create(
    client_server: str,
    project_id: str,
    coordinator_secret: str,
    catalogue: Path | None,
    coordinator_key: Path | None,
) -> None:
    """``project create --catalogue/--coordinator-key``: set both as the new coordinator."""
    from apiclient import ApiClient
    from coordinator.keys import read_public_key
    from linkage.signals import load_catalogue, public_key_raw

    with ApiClient(client_server, coordinator_secret) as client:
        if catalogue is not None:
            stored = client.set_signal_catalogue(project_id, load_catalogue(catalogue).to_dict())
            out.print(f"signal catalogue version {stored['version']} set")
        if coordinator_key is not None:
            raw = public_key_raw(read_public_key(coordinator_key))
            info = client.set_signal_key(project_id, base64.b64encode(raw).decode())
            out.print(f"coordinator key set: {info['fingerprint']}")


def register(app: typer.Typer, project_app: typer.Typer) -> None:
    keys_app = typer.Typer(help="The coordinator's key pair for signals.", no_args_is_help=True)
    keys_app.command("new")(keys_new)
    keys_app.command("fingerprint")(keys_fingerprint)
    app.add_typer(keys_app, name="keys")
    catalogue_app = typer.Typer(help="The project's signal catalogue.", no_args_is_help=True)
    catalogue_app.command("set")(catalogue_set)
    catalogue_app.command("show")(catalogue_show)
    project_app.add_typer(catalogue_app, name="catalogue")
    key_app = typer.Typer(help="The coordinator's public key on the project.", no_args_is_help=True)
    key_app.command("set")(key_set)
    key_app.command("show")(key_show)
    project_app.add_typer(key_app, name="key")
    project_app.command("signals")(signals_status)
