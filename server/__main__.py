"""``python -m server``: the server commands without the rest of the ``kakehashi`` CLI."""

from __future__ import annotations

import typer

from server.cli import register

app = typer.Typer(help="Kakehashi linkage server.", no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
