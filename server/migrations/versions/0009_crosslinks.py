"""cross-municipality linkage: cross-links, members' approvals, uploads, runs, linked rows

Revision ID: 0009
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crosslinks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("schema_id", sa.String(64), nullable=False),
        sa.Column("bit_length", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "crosslink_members",
        sa.Column("crosslink_id", sa.String(32), sa.ForeignKey("crosslinks.id"), primary_key=True),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_crosslink_members_project_id", "crosslink_members", ["project_id"])
    op.create_table(
        "crosslink_uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("crosslink_id", sa.String(32), sa.ForeignKey("crosslinks.id"), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("bit_length", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(100), nullable=False),
        sa.Column("secret_fingerprint", sa.String(19), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_crosslink_uploads_link", "crosslink_uploads", ["crosslink_id", "project_id", "body"]
    )
    op.create_table(
        "crosslink_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("crosslink_id", sa.String(32), sa.ForeignKey("crosslinks.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_crosslink_runs_crosslink_id", "crosslink_runs", ["crosslink_id"])
    op.create_index("ix_crosslink_runs_status", "crosslink_runs", ["status"])
    op.create_table(
        "crosslink_rows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("crosslink_runs.id"), nullable=False),
        sa.Column("link", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
    )
    op.create_index("ix_crosslink_rows_run_project", "crosslink_rows", ["run_id", "project_id"])


def downgrade() -> None:
    op.drop_index("ix_crosslink_rows_run_project", table_name="crosslink_rows")
    op.drop_table("crosslink_rows")
    op.drop_index("ix_crosslink_runs_status", table_name="crosslink_runs")
    op.drop_index("ix_crosslink_runs_crosslink_id", table_name="crosslink_runs")
    op.drop_table("crosslink_runs")
    op.drop_index("ix_crosslink_uploads_link", table_name="crosslink_uploads")
    op.drop_table("crosslink_uploads")
    op.drop_index("ix_crosslink_members_project_id", table_name="crosslink_members")
    op.drop_table("crosslink_members")
    op.drop_table("crosslinks")
