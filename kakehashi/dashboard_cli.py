"""``kakehashi dashboard``: the coordinator's dashboard on 127.0.0.1 of this machine."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from encoders.cli import CredentialOpt, ProjectOpt, ServerOpt

out = Console(markup=False, highlight=False, soft_wrap=True)
LOOPBACK = ("127.0.0.1", "localhost")


def dashboard(
    server: ServerOpt,
    project: ProjectOpt,
    credential: CredentialOpt,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="The coordinator's private key (for the support list); asks its "
            "passphrase at the login page.",
        ),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Support rules file (TOML) for the support list.")
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Only 127.0.0.1 (or localhost): never a network address.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free one).")
    ] = 8765,
    min_cell: Annotated[
        int, typer.Option("--min-cell", help='Counts below this are shown as "<k".', min=1)
    ] = 10,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the dashboard in the web browser.")
    ] = True,
) -> None:
    """Start the coordinator's dashboard (Japanese web pages) on 127.0.0.1 of this machine.

    It talks to the linkage server with the coordinator's credential; the login page asks
    for that credential (and the key passphrase when --key is given). Nothing is stored.
    """
    import uvicorn

    from apiclient import read_credential
    from coordinator.dashboard import DashboardConfig, create_app

    if host not in LOOPBACK:
        raise typer.BadParameter(
            f"the dashboard listens on 127.0.0.1 only (decrypted signals never leave this "
            f"machine); refusing --host {host}",
            param_hint="--host",
        )
    read_credential(credential)  # fail now, not at the login page
    if key is not None and not key.is_file():
        raise typer.BadParameter(f"{key}: private key file not found", param_hint="--key")
    if rules is not None:
        from coordinator.rules import load_rules

        try:
            load_rules(rules)  # a broken rule file is reported here, with its line
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--rules") from None
    if port == 0:
        from kakehashi.demo import free_port

        port = free_port()
    config = DashboardConfig(
        server=server,
        project=project,
        credential_file=credential,
        key_file=key,
        rules_file=rules,
        k=min_cell,
        port=port,
    )
    app = create_app(config)
    url = f"http://127.0.0.1:{port}/"
    uv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )

    def announce() -> None:
        while not uv.started and not uv.should_exit:
            time.sleep(0.05)
        if uv.started:
            out.print(f"ダッシュボード: {url}  (Ctrl+C で終了 / stop with Ctrl+C)")
            if open_browser:
                import webbrowser

                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    uv.run()


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
