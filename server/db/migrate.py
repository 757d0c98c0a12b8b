"""Run the Alembic migrations in ``server/migrations`` against a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the latest schema revision."""
    command.upgrade(alembic_config(url), "head")
