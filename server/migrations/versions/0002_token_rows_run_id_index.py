"""index token rows by (run_id, id) for paged downloads

Without it SQLite answers each page of a token-table download through the
(run_id, token) index and sorts the run's rows by id in a temporary B-tree.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_token_rows_run_id_id", "token_rows", ["run_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_token_rows_run_id_id", table_name="token_rows")
