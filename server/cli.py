"""``kakehashi serve`` and ``kakehashi audit verify``; the composition root calls register()."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.core.config import Settings

_F = Settings.model_fields


def _help(name: str) -> str:
    return f"{_F[name].description} (env KAKEHASHI_{name.upper()})"


def serve(
    host: Annotated[str, typer.Option(help=_help("host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_help("port"))] = 8000,
    database_url: Annotated[str | None, typer.Option(help=_help("database_url"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    max_upload_bytes: Annotated[int | None, typer.Option(help=_help("max_upload_bytes"))] = None,
    retention_days: Annotated[float | None, typer.Option(help=_help("retention_days"))] = None,
    credential_ttl_days: Annotated[
        float | None, typer.Option(help=_help("credential_ttl_days"))
    ] = None,
    worker_poll_seconds: Annotated[
        float | None, typer.Option(help=_help("worker_poll_seconds"))
    ] = None,
    run_worker: Annotated[bool | None, typer.Option(help=_help("run_worker"))] = None,
    log_level: Annotated[str | None, typer.Option(help=_help("log_level"))] = None,
    log_file: Annotated[Path | None, typer.Option(help=_help("log_file"))] = None,
    auth_failure_burst: Annotated[
        int | None, typer.Option(help=_help("auth_failure_burst"))
    ] = None,
    auth_failure_per_minute: Annotated[
        float | None, typer.Option(help=_help("auth_failure_per_minute"))
    ] = None,
    auth_failure_audit_seconds: Annotated[
        float | None, typer.Option(help=_help("auth_failure_audit_seconds"))
    ] = None,
) -> None:
    """Run the neutral linkage server (HTTP API, background runs, audit log)."""
    import os

    import uvicorn

    from server.core.files import UMASK

    # Everything this process creates is private to its user (folders 0700, files 0600).
    os.umask(UMASK)
    from server.core.logging import uvicorn_log_config
    from server.main import create_app

    given = {
        "host": host,
        "port": port,
        "database_url": database_url,
        "data_dir": data_dir,
        "max_upload_bytes": max_upload_bytes,
        "retention_days": retention_days,
        "credential_ttl_days": credential_ttl_days,
        "worker_poll_seconds": worker_poll_seconds,
        "run_worker": run_worker,
        "log_level": log_level,
        "log_file": log_file,
        "auth_failure_burst": auth_failure_burst,
        "auth_failure_per_minute": auth_failure_per_minute,
        "auth_failure_audit_seconds": auth_failure_audit_seconds,
    }
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=uvicorn_log_config(settings.log_level, settings.log_file),
        proxy_headers=True,
        server_header=False,
    )


audit_app = typer.Typer(help="Audit log tools.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    database_url: Annotated[
        str | None, typer.Option(help="Database to check (env KAKEHASHI_DATABASE_URL)")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
) -> None:
    """Check the audit log's hash chain; exit 1 naming the first bad entry."""
    from server.core.audit import verify as verify_chain
    from server.db.session import make_engine, make_sessionmaker

    given = {"database_url": database_url, "data_dir": data_dir}
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            result = verify_chain(session)
    finally:
        engine.dispose()
    if result.ok:
        typer.echo(f"audit log OK: {result.entries} entries, chain intact")
        return
    typer.echo(f"audit log BROKEN: {result.problem}", err=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``audit`` group to the ``kakehashi`` command."""
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
