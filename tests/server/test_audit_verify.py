"""`kakehashi audit verify` detects edited and deleted audit entries."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from server.cli import register
from server.core import audit
from server.db.migrate import upgrade
from server.db.session import make_engine, make_sessionmaker


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _db_with_entries(tmp_path: Path, n: int = 5) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    for i in range(n):
        audit.append_now(factory, actor="test", action=f"step{i}", detail={"i": i})
    engine.dispose()
    return url


def _run(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(_cli(), ["audit", "verify", "--database-url", url])
    return result.exit_code, result.output


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_intact_chain_verifies(tmp_path: Path) -> None:
    code, out = _run(_db_with_entries(tmp_path))
    assert code == 0 and "5 entries" in out


def test_edited_entry_is_named(tmp_path: Path) -> None:
    url = _db_with_entries(tmp_path)
    _sql(url, "update audit_log set detail = 'edited' where seq = 3")
    code, out = _run(url)
    assert code == 1 and "entry 3" in out


def test_deleted_middle_entry_is_named(tmp_path: Path) -> None:
    url = _db_with_entries(tmp_path)
    _sql(url, "delete from audit_log where seq = 2")
    code, out = _run(url)
    assert code == 1 and "entry 2" in out


def test_deleted_last_entry_is_detected(tmp_path: Path) -> None:
    url = _db_with_entries(tmp_path)
    _sql(url, "delete from audit_log where seq = 5")
    code, out = _run(url)
    assert code == 1 and "after 4" in out


def test_rehashed_edit_breaks_the_next_link(tmp_path: Path) -> None:
    url = _db_with_entries(tmp_path)
    engine = create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(text("select * from audit_log where seq = 2")).mappings().one()
        new_hash = audit.entry_hash(
            row["prev_hash"],
            2,
            row["ts"],
            "forger",
            row["project_id"],
            row["action"],
            row["detail"],
        )
        conn.execute(
            text("update audit_log set actor='forger', hash=:h where seq=2"), {"h": new_hash}
        )
    engine.dispose()
    code, out = _run(url)
    assert code == 1 and "entry 3" in out
