"""The ``kakehashi`` command: one entry point, subcommands grouped by who runs them.

The department's commands (``encode``, ``secret``, ``upload``, ``resolve``) and the
coordinator's API commands (``project``, ``run``, ``results``) need only the base
install. The server's (``serve``, ``audit``), the demo and the benchmarks need extras; in
an install without them (a department's PC, the offline Windows bundle) those commands
still appear, and say which extra they need instead of failing with a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

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

#: Optional command modules: (module, extra that provides its packages, commands, groups).
OPTIONAL: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("server.cli", "server", ("serve",), ("audit",)),
    ("kakehashi.demo", "server,bench", ("demo",), ()),
    ("benchmarks.cli", "bench", (), ("bench",)),
)

#: Top-level packages of this project: an ImportError naming one of them is a bug, not a
#: missing extra, and is raised.
_OWN = {"kakehashi", "encoders", "linkage", "server", "coordinator", "apiclient", "synthetic",
        "benchmarks"}  # fmt: skip


def version_line() -> str:
    """``kakehashi 0.1.0 (schema children-v1 <sha-256>)`` — what a body tells the coordinator."""
    from kakehashi import __version__
    from linkage.schema import default_schema

    schema = default_schema()
    return f"kakehashi {__version__} (schema {schema.name} {schema.schema_id})"


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and the built-in schema id.")
    ] = False,
) -> None:
    if version:
        Console(markup=False, highlight=False, soft_wrap=True).print(version_line())
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        Console().print(ctx.get_help())
        raise typer.Exit()


def _missing_extra(name: str, extra: str, missing: str) -> typer.models.CommandFunctionType:
    def command(ctx: typer.Context) -> None:
        extras = " and ".join(f"'{e}'" for e in extra.split(","))
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            Text("error: ", style="red")
            + Text(
                f"`kakehashi {name}` needs the {extras} extra, which this installation does "
                f"not have (the package {missing!r} is missing). A department's encoder does "
                "not need it; on the server or a development machine run: "
                f'pip install "kakehashi[{extra}]"'
            )
        )
        raise typer.Exit(2)

    command.__doc__ = f"(not installed: needs the '{extra}' extra)"
    return command


def _register_optional(
    module: str, extra: str, commands: tuple[str, ...], groups: tuple[str, ...]
) -> None:
    try:
        importlib.import_module(module).register(app)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or (missing in _OWN and missing != module.partition(".")[0]):
            raise
        settings = {"allow_extra_args": True, "ignore_unknown_options": True}
        for name in (*commands, *groups):
            app.command(name, context_settings=settings, add_help_option=False)(
                _missing_extra(name, extra, missing)
            )


_built = False


def _build() -> typer.Typer:
    """Register every command group on ``app``, once per process: ``main`` is called many
    times in one process by the tests and benchmarks, and registering again would add
    duplicate commands that typer re-processes on every call (each call slower than the
    last)."""
    global _built
    if _built:
        return app
    import encoders.cli
    import kakehashi.coordinator
    import kakehashi.credentials
    import kakehashi.crosslink_cli
    import kakehashi.dashboard_cli
    import kakehashi.support_cli

    encoders.cli.register(app)
    kakehashi.coordinator.register(app)
    kakehashi.support_cli.register(app)
    kakehashi.dashboard_cli.register(app)
    kakehashi.credentials.register(app)
    kakehashi.crosslink_cli.register(app)
    for module, extra, commands, groups in OPTIONAL:
        _register_optional(module, extra, commands, groups)
    _built = True
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
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing in _OWN:
            raise
        message = Text("error: ", style="red") + Text(
            f"this command needs the package {missing!r}, which this installation does not "
            "have; it belongs to an extra (server, coordinator, bench) that a department's "
            "encoder does not need"
        )
        Console(stderr=True).print(message, highlight=False, soft_wrap=True)
        sys.exit(2)
