"""Database tables (SQLAlchemy 2 declarative). Encodings themselves live in files.

No table holds personal data: refs and tokens are random, CLK bytes are kept in per-upload
files under ``<data_dir>/uploads`` and deleted on close or after the retention period.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    schema_json: Mapped[str] = mapped_column(Text)
    schema_id: Mapped[str] = mapped_column(String(64))
    bit_length: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    bodies: Mapped[list[str]] = mapped_column(JSON)
    dedup_bodies: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Credential(Base):
    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id"), nullable=True, index=True
    )
    body: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_project_body", "project_id", "body"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    body: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    bit_length: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(8))
    file_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Fingerprint of the linkage secret the file declares (a 64-bit digest of the 256-bit
    # secret; see docs/threat-model.md). NULL for uploads stored before it was recorded.
    secret_fingerprint: Mapped[str | None] = mapped_column(String(19), nullable=True)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    stats: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Per-run secret for the bodies' view of the tokens (issue 12): a body's mapping shows
    # HMAC(view_key, body, stable token), so its tokens change every run and reveal no
    # merge. Never returned by the API.
    view_key: Mapped[str | None] = mapped_column(
        String(64), nullable=True, default=lambda: secrets.token_hex(32)
    )


class TokenRow(Base):
    """One row of a finished run's token table: (token, body, ref)."""

    __tablename__ = "token_rows"
    __table_args__ = (
        UniqueConstraint("run_id", "body", "ref", name="uq_token_rows_run_body_ref"),
        Index("ix_token_rows_run_token", "run_id", "token"),
        # Paged downloads walk a run's rows in id order.
        Index("ix_token_rows_run_id_id", "run_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    body: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(32))
    token: Mapped[str] = mapped_column(String(32))
    # True when the engine left this record's group apart from a rival candidate within
    # the review margin (e.g. twins): the coordinator should look before acting on it.
    review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LinkEvent(Base):
    """A merge or split of tokens found by an incremental run (tokens only)."""

    __tablename__ = "link_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    old_tokens: Mapped[list[str]] = mapped_column(JSON)
    new_tokens: Mapped[list[str]] = mapped_column(JSON)


class AuditEntry(Base):
    """Append-only, hash-chained audit log entry."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    project_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last sequence number and hash, so a deleted tail is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ReviewOutcome(Base):
    """What the bodies found when they checked groups flagged for review (coordinator).

    ``parts`` is a list of parts, each a list of ``[body, ref]``: records within a part are
    one person, records in different parts are different people. The next run keeps to
    it (``linkage.outcomes``). Only random refs and tokens are stored, no free text.
    """

    __tablename__ = "review_outcomes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    run_id: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    tokens: Mapped[list[str]] = mapped_column(JSON)
    parts: Mapped[list[list[list[str]]]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- support signals (issue 10): catalogue, coordinator key, sealed per-record signals ------


class SignalCatalogue(Base):
    """One version of a project's signal catalogue (codes, labels, bodies, types, purposes).

    Versions are never changed or deleted; setting a catalogue adds the next version.
    """

    __tablename__ = "signal_catalogues"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CoordinatorKey(Base):
    """One version of the coordinator's public key for a project (X25519, 32 raw bytes).

    The newest version is current; ``retired_at`` is set on the previous one at rotation.
    No private key is ever sent to or stored by the server.
    """

    __tablename__ = "coordinator_keys"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    fingerprint: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignalUpload(Base):
    """A body's signals upload: its header (codes declared, catalogue and key version)."""

    __tablename__ = "signal_uploads"
    __table_args__ = (Index("ix_signal_uploads_project_body", "project_id", "body"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    body: Mapped[str] = mapped_column(String(200))
    catalogue_version: Mapped[int] = mapped_column(Integer)
    key_version: Mapped[int] = mapped_column(Integer)
    key_fingerprint: Mapped[str] = mapped_column(String(40))
    codes: Mapped[list[str]] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignalRow(Base):
    """One record's sealed signals: a fixed-size ciphertext the server cannot open."""

    __tablename__ = "signal_rows"
    __table_args__ = (
        UniqueConstraint("project_id", "body", "ref", name="uq_signal_rows_project_body_ref"),
        Index("ix_signal_rows_upload", "upload_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("signal_uploads.id"))
    project_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


# -- cross-municipality linkage (issue 15) ---------------------------------------------


class CrossLink(Base):
    """A linkage across two or more projects (municipalities), each keeping its own secret,
    bodies and coordinator. ``status``: ``proposed`` until every member project's
    coordinator approved, then ``open`` (uploads and runs allowed); ``withdrawn`` once any
    coordinator withdrew (its encodings and results are deleted then)."""

    __tablename__ = "crosslinks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    schema_id: Mapped[str] = mapped_column(String(64))
    bit_length: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CrossLinkMember(Base):
    """A project taking part in a cross-link, and its coordinator's approval."""

    __tablename__ = "crosslink_members"

    crosslink_id: Mapped[str] = mapped_column(ForeignKey("crosslinks.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True, index=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class CrossUpload(Base):
    """A body's encodings under the cross-link's joint secret (records file on disk)."""

    __tablename__ = "crosslink_uploads"
    __table_args__ = (Index("ix_crosslink_uploads_link", "crosslink_id", "project_id", "body"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    crosslink_id: Mapped[str] = mapped_column(ForeignKey("crosslinks.id"))
    project_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    bit_length: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(String(100))
    secret_fingerprint: Mapped[str] = mapped_column(String(19))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrossRun(Base):
    """A run of a cross-link (queued → running → done | failed)."""

    __tablename__ = "crosslink_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    crosslink_id: Mapped[str] = mapped_column(ForeignKey("crosslinks.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Per member project: {"records": n, "linked": m} (each coordinator sees only its own).
    stats: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CrossLinkRow(Base):
    """One record of a finished cross run that links to another member project.

    ``link`` is an opaque random id shared by the records of one cross-project group, so
    the coordinators can speak of the same child without names. Records that link to no
    other project are never stored.
    """

    __tablename__ = "crosslink_rows"
    __table_args__ = (Index("ix_crosslink_rows_run_project", "run_id", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("crosslink_runs.id"))
    link: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(200))
    ref: Mapped[str] = mapped_column(String(32))


# -- families (issue 16): guardian encodings, relations, date tags; households, pregnancies --


class FamilyUpload(Base):
    """A body's family file (``*.family.json``): its counts; rows in ``family_rows``."""

    __tablename__ = "family_uploads"
    __table_args__ = (Index("ix_family_uploads_project_body", "project_id", "body"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    body: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FamilyRow(Base):
    """One item of a family file; ``kind`` says which.

    * ``guardian``: ``ref`` a guardian ref, ``data`` its CLK;
    * ``relation``: ``ref`` a child ref, ``other`` the guardian ref, ``role``;
    * ``birth``: ``ref`` a child ref, ``data`` its birth-date tag;
    * ``pregnancy``: ``ref`` a pregnancy ref, ``other`` the mother's guardian ref,
      ``data`` the window tags concatenated, ``offsets`` their week offsets.
    """

    __tablename__ = "family_rows"
    __table_args__ = (
        Index("ix_family_rows_upload", "upload_id"),
        Index("ix_family_rows_project_kind", "project_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("family_uploads.id"))
    project_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))
    ref: Mapped[str] = mapped_column(String(32))
    other: Mapped[str | None] = mapped_column(String(32), nullable=True)
    role: Mapped[str | None] = mapped_column(String(8), nullable=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    offsets: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)


class FamilyLink(Base):
    """A finished run's family result (tokens only).

    * ``household``: ``token`` a child token, ``linked`` its household token;
    * ``pregnancy``: ``token`` a pregnancy token, ``linked`` a child token (None while the
      pregnancy is open), ``body``/``ref`` the pregnancy record, ``review`` when another
      pregnancy of the same mother could take the child;
    * ``guardian_in``: ``token`` a household token, ``body`` a body whose records are about
      guardians (payees, 妊娠届) and that holds a record of a guardian of the household.
    """

    __tablename__ = "family_links"
    __table_args__ = (Index("ix_family_links_run_kind", "run_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    kind: Mapped[str] = mapped_column(String(12))
    token: Mapped[str] = mapped_column(String(32))
    linked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    body: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
