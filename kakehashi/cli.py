"""The ``kakehashi`` command: one entry point, subcommands grouped by who runs them."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.text import Text

from apiclient import ApiError
from encoders.errors import InputError, OutputError
from encoders.keys import KeysFileError
from encoders.secret import SecretError
from linkage.errors import LinkageError

app = typer.Typer(
    name="kakehashi",
    help="Kakehashi (架け橋): privacy-preserving record linkage for municipalities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_USER_ERRORS: tuple[type[BaseException], ...] = (
    ApiError,
    InputError,
    OutputError,
    KeysFileError,
    SecretError,
    LinkageError,
    FileNotFoundError,
    PermissionError,
)


def _build() -> typer.Typer:
    import encoders.cli
    import kakehashi.coordinator
    import kakehashi.demo
    import server.cli

    encoders.cli.register(app)
    kakehashi.coordinator.register(app)
    server.cli.register(app)
    kakehashi.demo.register(app)
    try:
        import benchmarks.cli
    except ImportError:  # pragma: no cover - the bench extra is optional
        pass
    else:
        benchmarks.cli.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors are one line on stderr and exit status 2."""
    from encoders.encode import RejectRateExceeded

    _build()
    try:
        app(args=argv, standalone_mode=True)
    except (*_USER_ERRORS, RejectRateExceeded) as exc:
        message = Text("error: ", style="red") + Text(str(exc))
        Console(stderr=True).print(message, highlight=False, soft_wrap=True)
        sys.exit(2)
