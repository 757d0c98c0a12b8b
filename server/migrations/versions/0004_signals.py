"""support signals: catalogue versions, coordinator keys, signal uploads and rows

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_catalogues",
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "coordinator_keys",
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "signal_uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("key_fingerprint", sa.String(40), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_signal_uploads_project_body", "signal_uploads", ["project_id", "body"])
    op.create_table(
        "signal_rows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("upload_id", sa.String(32), sa.ForeignKey("signal_uploads.id"), nullable=False),
        sa.Column("project_id", sa.String(32), nullable=False),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("project_id", "body", "ref", name="uq_signal_rows_project_body_ref"),
    )
    op.create_index("ix_signal_rows_upload", "signal_rows", ["upload_id"])


def downgrade() -> None:
    op.drop_index("ix_signal_rows_upload", table_name="signal_rows")
    op.drop_table("signal_rows")
    op.drop_index("ix_signal_uploads_project_body", table_name="signal_uploads")
    op.drop_table("signal_uploads")
    op.drop_table("coordinator_keys")
    op.drop_table("signal_catalogues")
