"""``kakehashi credentials``: rotate, reissue, recover and take over project credentials.

Every command writes new credentials to files with mode 0600 (atomically: a partly written
credential file never exists) and prints only file names, never a credential.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from encoders.cli import CredentialOpt, ProjectOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)
credentials_app = typer.Typer(
    help="Rotate, reissue and recover credentials (never through the operator).",
    no_args_is_help=True,
)


def write_private(path: Path, text: str) -> None:
    """Write one credential to ``path`` with mode 0600, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    tmp.replace(path)


@credentials_app.command("rotate")
def rotate(server: ServerOpt, credential: CredentialOpt) -> None:
    """Replace your own credential (any party); the file is overwritten with the new one."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        new = client.post_json("/credentials/rotate")
    write_private(credential, new["credential"])
    out.print(f"{new['role']} credential rotated; the old one is revoked. New one in {credential}")


@credentials_app.command("reissue")
def reissue(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    body: Annotated[str, typer.Option("--body", help="The body whose credential is replaced.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="File for the new credential (default body-<name>.credential)."),
    ] = None,
) -> None:
    """Coordinator: reissue a body's credential (e.g. lost); hand the file over out of band."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        new = client.post_json(f"/projects/{project}/credentials", {"role": "body", "body": body})
    target = out_file or Path(f"body-{body}.credential")
    write_private(target, new["credential"])
    out.print(f"new credential for {body} written to {target}; its old one is revoked.")


@credentials_app.command("recovery-code")
def recovery_code(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    out_file: Annotated[Path, typer.Option("--out", help="File for the new recovery code.")] = Path(
        "coordinator.recovery"
    ),
) -> None:
    """Coordinator: replace the one-time recovery code; the previous code stops working."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(credential)) as client:
        new = client.post_json(f"/projects/{project}/credentials/recovery")
    write_private(out_file, new["recovery_code"])
    out.print(
        f"new recovery code written to {out_file}; keep it offline, apart from the credential."
    )


@credentials_app.command("recover")
def recover(
    server: ServerOpt,
    project: ProjectOpt,
    recovery: Annotated[
        Path, typer.Option("--recovery-code", help="The coordinator's recovery code file.")
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="File for the new coordinator credential.")
    ] = Path("coordinator.credential"),
) -> None:
    """Coordinator: get a new credential with the recovery code (a new code replaces it)."""
    from apiclient import ApiClient, read_credential

    with ApiClient(server, read_credential(recovery)) as client:
        new = client.post_json(f"/projects/{project}/credentials/recover")
    write_private(out_file, new["credential"])
    write_private(recovery, new["recovery_code"])
    out.print(
        f"coordinator credential recovered into {out_file} ({new['revoked']} old one(s) "
        f"revoked); the recovery code in {recovery} was used up and replaced by a new one."
    )


@credentials_app.command("take-over")
def take_over(
    server: ServerOpt,
    project: ProjectOpt,
    folder: Annotated[
        Path,
        typer.Option("--dir", help="Folder written by `kakehashi project create`."),
    ] = Path("credentials"),
) -> None:
    """Coordinator, right after project creation: replace every credential the project's
    creator saw (own credential, recovery code, each body's), in the same folder."""
    from apiclient import ApiClient, read_credential

    coordinator = folder / "coordinator.credential"
    with ApiClient(server, read_credential(coordinator)) as client:
        new = client.post_json("/credentials/rotate")
    write_private(coordinator, new["credential"])
    bodies = sorted(p for p in folder.glob("body-*.credential"))
    with ApiClient(server, new["credential"]) as client:
        code = client.post_json(f"/projects/{project}/credentials/recovery")
        write_private(folder / "coordinator.recovery", code["recovery_code"])
        for path in bodies:
            name = path.name.removeprefix("body-").removesuffix(".credential")
            body = client.post_json(
                f"/projects/{project}/credentials", {"role": "body", "body": name}
            )
            write_private(path, body["credential"])
    out.print(
        f"took over {len(bodies) + 2} credentials in {folder}/: every credential and the "
        "recovery code the creator saw are revoked. Hand each body its file out of band."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(credentials_app, name="credentials")
