"""per-run key for the bodies' view of tokens

A body's mapping shows HMAC(view_key, body, stable token) instead of the stable token,
so that tokens cannot be followed across runs (issue 12). Runs made before this revision
get a random key each.

Revision ID: 0005
Revises: 0007
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("view_key", sa.String(64), nullable=True))
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("id", sa.String), sa.column("view_key", sa.String))
    for (rid,) in conn.execute(sa.select(runs.c.id)).all():
        conn.execute(runs.update().where(runs.c.id == rid).values(view_key=secrets.token_hex(32)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("view_key")
