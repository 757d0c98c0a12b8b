"""families (issue 16): family uploads and rows (guardian CLKs, relations, date tags) and
each run's family links (household and pregnancy tokens)

Revision ID: 0010
Revises: 0009 (0006 on its branch; chained at merge)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "family_uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_family_uploads_project_body", "family_uploads", ["project_id", "body"])
    op.create_table(
        "family_rows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("upload_id", sa.String(32), sa.ForeignKey("family_uploads.id"), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("other", sa.String(32), nullable=True),
        sa.Column("role", sa.String(8), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("offsets", sa.JSON(), nullable=True),
    )
    op.create_index("ix_family_rows_upload", "family_rows", ["upload_id"])
    op.create_index("ix_family_rows_project_kind", "family_rows", ["project_id", "kind"])
    op.create_table(
        "family_links",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("linked", sa.String(32), nullable=True),
        sa.Column("body", sa.String(200), nullable=True),
        sa.Column("ref", sa.String(32), nullable=True),
        sa.Column("review", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index("ix_family_links_run_kind", "family_links", ["run_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_family_links_run_kind", table_name="family_links")
    op.drop_table("family_links")
    op.drop_index("ix_family_rows_project_kind", table_name="family_rows")
    op.drop_index("ix_family_rows_upload", table_name="family_rows")
    op.drop_table("family_rows")
    op.drop_index("ix_family_uploads_project_body", table_name="family_uploads")
    op.drop_table("family_uploads")
