"""``kakehashi serve`` and ``kakehashi audit verify``; the composition root calls register()."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    audit_key_file: Annotated[Path | None, typer.Option(help=_help("audit_key_file"))] = None,
    audit_checkpoint_dir: Annotated[
        Path | None, typer.Option(help=_help("audit_checkpoint_dir"))
    ] = None,
    audit_checkpoint_every_entries: Annotated[
        int | None, typer.Option(help=_help("audit_checkpoint_every_entries"))
    ] = None,
    audit_checkpoint_every_minutes: Annotated[
        float | None, typer.Option(help=_help("audit_checkpoint_every_minutes"))
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
        "audit_key_file": audit_key_file,
        "audit_checkpoint_dir": audit_checkpoint_dir,
        "audit_checkpoint_every_entries": audit_checkpoint_every_entries,
        "audit_checkpoint_every_minutes": audit_checkpoint_every_minutes,
    }
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    if settings.audit_key_file is not None:
        _signing_key(settings)  # refuse to start with an unusable key, before listening
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


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _signing_key(settings: Settings) -> Any:
    from server.core.anchor import AnchorError, load_or_create_key

    assert settings.audit_key_file is not None
    try:
        return load_or_create_key(settings.audit_key_file, settings.data_dir)
    except AnchorError as exc:
        raise _fail(str(exc)) from exc


def _settings(**given: Any) -> Settings:
    return Settings(**{k: v for k, v in given.items() if v is not None})


DatabaseOpt = Annotated[
    str | None, typer.Option(help="Database to check (env KAKEHASHI_DATABASE_URL)")
]
DataDirOpt = Annotated[Path | None, typer.Option(help=_help("data_dir"))]
KeyFileOpt = Annotated[Path | None, typer.Option(help=_help("audit_key_file"))]


@audit_app.command("verify")
def verify(
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            help="A signed checkpoint file, or a folder of them: also check that the log "
            "still holds what they vouch for (detects truncation and rewritten hashes).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="Public key (<key>.pub) the checkpoints must be signed with; default: "
            "derived from --audit-key-file."
        ),
    ] = None,
    audit_key_file: KeyFileOpt = None,
) -> None:
    """Check the audit log's hash chain (and signed checkpoints); exit 1 naming the first
    bad entry."""
    from server.core.anchor import AnchorError, checkpoint_files, load_public_key, read_checkpoint
    from server.core.audit import verify as verify_chain
    from server.core.audit import verify_against
    from server.db.session import make_engine, make_sessionmaker

    settings = _settings(
        database_url=database_url, data_dir=data_dir, audit_key_file=audit_key_file
    )
    checkpoints: list[dict[str, Any]] = []
    if against is not None:
        key_path = public_key or settings.audit_key_file
        if key_path is None:
            raise _fail("--against needs --public-key (or --audit-key-file) to trust checkpoints")
        try:
            public = load_public_key(key_path)
            files = checkpoint_files(against)
            if not files:
                raise AnchorError(f"{against}: no audit-checkpoint-*.json files in this folder")
            checkpoints = [read_checkpoint(f, public) for f in files]
        except AnchorError as exc:
            typer.echo(f"audit log NOT VERIFIED: {exc}", err=True)
            raise typer.Exit(1) from exc
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            result = verify_against(session, checkpoints) if against else verify_chain(session)
    finally:
        engine.dispose()
    if result.ok:
        anchored = (
            f"; entries 1..{result.anchored} match {len(checkpoints)} signed checkpoint(s)"
            if result.anchored
            else ""
        )
        typer.echo(f"audit log OK: {result.entries} entries, chain intact{anchored}")
        return
    typer.echo(f"audit log BROKEN: {result.problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    database_url: DatabaseOpt = None,
    data_dir: DataDirOpt = None,
    audit_key_file: KeyFileOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help=_help("audit_checkpoint_dir"))] = None,
) -> None:
    """Sign the audit chain's head now and write the checkpoint file (the server also
    writes them on a schedule)."""
    from server.core.anchor import make_checkpoint, write_checkpoint
    from server.db.session import make_engine, make_sessionmaker

    settings = _settings(
        database_url=database_url,
        data_dir=data_dir,
        audit_key_file=audit_key_file,
        audit_checkpoint_dir=out,
    )
    if settings.audit_key_file is None or settings.checkpoint_dir is None:
        raise _fail("give --audit-key-file (or KAKEHASHI_AUDIT_KEY_FILE)")
    key = _signing_key(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            made = make_checkpoint(session, key)
    finally:
        engine.dispose()
    path = write_checkpoint(settings.checkpoint_dir, made)
    typer.echo(f"checkpoint of entry {made['seq']} (key {made['key_id']}) written to {path}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``audit`` group to the ``kakehashi`` command."""
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
