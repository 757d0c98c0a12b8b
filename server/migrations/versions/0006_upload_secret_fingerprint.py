"""secret fingerprint on uploads

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Uploads stored before this column existed keep NULL and are not compared.
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.add_column(sa.Column("secret_fingerprint", sa.String(19), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch_op:
        batch_op.drop_column("secret_fingerprint")
