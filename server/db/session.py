"""Engine and session factory; SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, busy_timeout_seconds: float = 30.0) -> Engine:
    """Create an engine for ``url``; SQLite connections are set to WAL mode.

    SQLite: a connection waits up to ``busy_timeout_seconds`` for another connection's
    write lock (sqlite3's ``timeout`` and ``PRAGMA busy_timeout``, the same value) before
    ``OperationalError: database is locked``, which the API answers with 503 and
    ``Retry-After`` (``server.core.problems``).
    """
    if url.startswith("sqlite"):
        wait_ms = int(busy_timeout_seconds * 1000)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_seconds},
            pool_pre_ping=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={wait_ms}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            # Let SQLAlchemy's "begin" hook below issue BEGIN IMMEDIATE instead of pysqlite.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that reads and then writes
            # fails at once (SQLITE_BUSY_SNAPSHOT) when another thread committed meanwhile.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session
