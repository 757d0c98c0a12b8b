"""Server settings, read from ``KAKEHASHI_*`` environment variables or passed explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the linkage server (env prefix ``KAKEHASHI_``)."""

    model_config = SettingsConfigDict(env_prefix="KAKEHASHI_", extra="ignore")

    data_dir: Path = Field(
        default=Path("kakehashi-data"),
        description="Folder for the database (SQLite), uploaded encodings and the operator "
        "credential file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/kakehashi.db. PostgreSQL: "
        "postgresql+psycopg://user@host:5432/db",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, description="TCP port to listen on.")
    max_upload_bytes: int = Field(
        default=2 * 1024**3, description="Largest encodings upload accepted, in bytes."
    )
    retention_days: float | None = Field(
        default=None,
        description="Delete uploaded encodings this many days after upload (unset: keep "
        "until the project is closed).",
    )
    credential_ttl_days: float | None = Field(
        default=None,
        description="Default lifetime of newly issued project credentials (unset: no expiry).",
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=30.0,
        ge=0,
        description="SQLite only: how long a request waits for another writer's lock before "
        "it is answered 503 with Retry-After (the database is busy).",
    )
    worker_poll_seconds: float = Field(
        default=1.0, description="How often the background worker looks for queued runs."
    )
    run_worker: bool = Field(
        default=True, description="Run the background linkage worker in this process."
    )
    token_tables_kept: int = Field(
        default=2,
        ge=1,
        description="How many finished runs' token tables to keep per project (the newest "
        "is the one served; the one before it stays so that a download started just "
        "before a run finished can complete); older ones are deleted after each run.",
    )
    sqlite_checkpoint: bool = Field(
        default=True,
        description="SQLite: checkpoint and truncate the write-ahead log after each run.",
    )
    log_level: str = Field(default="INFO", description="Log level (DEBUG, INFO, WARNING).")
    auth_failure_burst: int = Field(
        default=20,
        ge=1,
        description="Failed authentications one client address may make in a row before "
        "it gets 429 (token bucket size).",
    )
    auth_failure_per_minute: float = Field(
        default=10.0,
        ge=0,
        description="How fast an address earns back failed-authentication allowance "
        "(tokens per minute).",
    )
    auth_failure_audit_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Failed authentications of one address after the first are collapsed "
        "into one audit entry per this many seconds.",
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="Ed25519 key (PEM) that signs audit checkpoints; created with "
        "<file>.pub if missing. Must lie outside data_dir. Unset: no checkpoints.",
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None,
        description="Folder for signed audit checkpoints (default: 'checkpoints' beside "
        "the key file); copy it off this host.",
    )
    audit_checkpoint_every_entries: int = Field(
        default=1000, ge=1, description="Write a checkpoint after this many new audit entries."
    )
    audit_checkpoint_every_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Write a checkpoint at least this often while new entries arrive.",
    )
    auth_limiter_max_clients: int = Field(
        default=10_000, ge=1, description="Most client addresses the rate limiter tracks."
    )
    log_file: Path | None = Field(
        default=None,
        description="Append the JSON log lines to this file (created with mode 0600) instead "
        "of stderr.",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (e.g. tcp://10.0.0.5:8786): when set, each run's "
        "candidate generation and scoring run as tasks on that cluster's workers "
        "(server/scaleout.py); unset: everything runs in this process.",
    )
    dask_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a run waits to reach the Dask scheduler and for a worker to "
        "be connected before it fails.",
    )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kakehashi.db').resolve()}"

    @property
    def checkpoint_dir(self) -> Path | None:
        """Where signed audit checkpoints go (None when checkpoints are off)."""
        if self.audit_checkpoint_dir is not None:
            return self.audit_checkpoint_dir
        if self.audit_key_file is None:
            return None
        return self.audit_key_file.parent / "checkpoints"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def retention_seconds(self) -> float | None:
        return None if self.retention_days is None else self.retention_days * 86400.0
