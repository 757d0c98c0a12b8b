"""Signed audit checkpoints detect what the hash chain alone cannot (issue 12, item 6):
deleting the newest entries together with the chain head, and editing an entry and
recomputing every later hash."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from server_process import ROOT, ServerProcess, backend_param
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from server.cli import register
from server.core import audit
from server.db.migrate import upgrade
from server.db.session import make_engine, make_sessionmaker


def _cli(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _db(tmp_path: Path, n: int) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'kakehashi.db'}"
    (tmp_path / "data").mkdir()
    upgrade(url)
    append(url, n)
    return url


def append(url: str, n: int) -> None:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    for i in range(n):
        audit.append_now(factory, actor="test", action=f"step{i}", detail={"i": i})
    engine.dispose()


def truncate(url: str, keep: int) -> None:
    """Delete the entries after ``keep`` and rewrite the head to match: the chain alone
    still verifies."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("delete from audit_log where seq > :k"), {"k": keep})
        last = conn.execute(text("select hash from audit_log where seq = :k"), {"k": keep})
        conn.execute(
            text("update audit_head set seq = :k, hash = :h"), {"k": keep, "h": last.scalar()}
        )
    engine.dispose()


def edit_and_rehash(url: str, seq: int) -> None:
    """Change entry ``seq``'s actor and recompute its hash, every later one and the head."""
    engine = create_engine(url)
    with engine.begin() as conn:
        rows = conn.execute(
            text("select * from audit_log where seq >= :s order by seq"), {"s": seq}
        ).mappings().all()  # fmt: skip
        prev = rows[0]["prev_hash"]
        for row in rows:
            actor = "forger" if row["seq"] == seq else row["actor"]
            digest = audit.entry_hash(
                prev, row["seq"], row["ts"], actor, row["project_id"], row["action"], row["detail"]
            )
            conn.execute(
                text("update audit_log set actor=:a, prev_hash=:p, hash=:h where seq=:s"),
                {"a": actor, "p": prev, "h": digest, "s": row["seq"]},
            )
            prev = digest
        conn.execute(text("update audit_head set hash = :h"), {"h": prev})
    engine.dispose()


@pytest.fixture
def anchored(tmp_path: Path) -> tuple[str, Path, Path]:
    """A database with 10 entries, a key outside its data folder and one checkpoint (seq 10)."""
    url = _db(tmp_path, 10)
    key = tmp_path / "keys" / "audit.key"
    out = tmp_path / "checkpoints"
    code, output = _cli("audit", "checkpoint", "--database-url", url,
                        "--audit-key-file", str(key), "--out", str(out))  # fmt: skip
    assert code == 0, output
    assert "entry 10" in output
    assert (key.stat().st_mode & 0o777) == 0o600 and (key.parent.stat().st_mode & 0o777) == 0o700
    return url, key, out


def _verify(url: str, key: Path, against: Path) -> tuple[int, str]:
    return _cli("audit", "verify", "--database-url", url, "--against", str(against),
                "--public-key", str(key.with_name(key.name + ".pub")))  # fmt: skip


def test_intact_log_and_later_entries_verify(anchored: tuple[str, Path, Path]) -> None:
    url, key, out = anchored
    append(url, 3)  # entries after the checkpoint are fine (only covered by the next one)
    code, output = _verify(url, key, out)
    assert code == 0, output
    assert "13 entries" in output and "entries 1..10 match 1 signed checkpoint" in output


def test_truncation_with_rewritten_head_is_detected(anchored: tuple[str, Path, Path]) -> None:
    url, key, out = anchored
    truncate(url, 7)
    assert _cli("audit", "verify", "--database-url", url)[0] == 0  # the chain alone is fooled
    code, output = _verify(url, key, out)
    assert code == 1
    assert "ends at entry 7" in output and "8..10 were removed" in output


def test_edit_and_rehash_is_detected(anchored: tuple[str, Path, Path]) -> None:
    url, key, out = anchored
    edit_and_rehash(url, 4)
    assert _cli("audit", "verify", "--database-url", url)[0] == 0  # the chain alone is fooled
    code, output = _verify(url, key, out)
    assert code == 1 and "entry 10 does not match" in output
    assert "between entry 1 and entry 10" in output


def test_two_checkpoints_narrow_down_the_rewrite(
    anchored: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, key, out = anchored
    append(url, 10)
    assert _cli("audit", "checkpoint", "--database-url", url,
                "--audit-key-file", str(key), "--out", str(out))[0] == 0  # fmt: skip
    edit_and_rehash(url, 15)
    code, output = _verify(url, key, out)
    assert code == 1 and "between entry 11 and entry 20" in output


def test_forged_or_foreign_checkpoints_are_refused(
    anchored: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, key, out = anchored
    (path,) = out.glob("audit-checkpoint-*.json")
    # an attacker who truncated the log "fixes" the checkpoint to match
    truncate(url, 7)
    forged = json.loads(path.read_text())
    engine = create_engine(url)
    with engine.connect() as conn:
        forged["hash"] = conn.execute(text("select hash from audit_head")).scalar()
    engine.dispose()
    forged["seq"] = 7
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged))
    code, output = _verify(url, key, bad)
    assert code == 1 and "signature does not verify" in output
    # a checkpoint made with the attacker's own key does not verify with ours either
    own = tmp_path / "attacker" / "audit.key"
    assert _cli("audit", "checkpoint", "--database-url", url, "--audit-key-file", str(own),
                "--out", str(tmp_path / "theirs"))[0] == 0  # fmt: skip
    code, output = _verify(url, key, tmp_path / "theirs")
    assert code == 1 and "signature does not verify" in output
    # and --against without a trusted key is refused rather than trusting the file
    code, output = _cli("audit", "verify", "--database-url", url, "--against", str(out))
    assert code == 2 and "--public-key" in output


def test_key_inside_the_data_folder_is_refused(tmp_path: Path) -> None:
    url = _db(tmp_path, 1)
    code, output = _cli("audit", "checkpoint", "--database-url", url, "--data-dir",
                        str(tmp_path / "data"), "--audit-key-file",
                        str(tmp_path / "data" / "audit.key"))  # fmt: skip
    assert code == 2 and "outside the data folder" in output
    assert not (tmp_path / "data" / "audit.key").exists()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from backend_param(request.param)


def test_server_writes_checkpoints_on_schedule(tmp_path: Path, db_url: str | None) -> None:
    key = tmp_path / "keys" / "audit.key"
    folder = tmp_path / "keys" / "checkpoints"
    proc = ServerProcess(
        tmp_path / "data", db_url, tmp_path / "server.log",
        "--audit-key-file", str(key), "--audit-checkpoint-every-entries", "5",
    )  # fmt: skip
    proc.start()

    def seqs() -> list[int]:
        return sorted(int(p.stem.rsplit("-", 1)[1]) for p in folder.glob("audit-checkpoint-*"))

    def wait_for(condition: object) -> None:
        deadline = time.monotonic() + 60
        while not condition():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"checkpoints so far: {seqs()}"
            time.sleep(0.1)

    try:
        wait_for(lambda: seqs())  # one at start: the head moved since the last checkpoint
        first = seqs()[-1]
        with proc.client(proc.operator) as c:
            for _ in range(12):
                assert c.get("/api/v1/projects").status_code == 200
        wait_for(lambda: seqs()[-1] >= first + 5)  # every 5 entries
    finally:
        proc.stop()  # and a last one at shutdown
    result = proc.cli("audit", "verify", "--against", str(folder), "--audit-key-file", str(key))
    assert result.returncode == 0, result.stderr
    total = int(result.stdout.split("OK: ")[1].split(" entries")[0])
    assert total == first + 12 and seqs()[-1] == total
    assert f"entries 1..{total} match {len(seqs())} signed checkpoint(s)" in result.stdout
    assert b"audit checkpoints on" in (tmp_path / "server.log").read_bytes()


def test_serve_refuses_a_key_inside_the_data_folder(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", None, tmp_path / "server.log")
    args = [*proc.args(), "--audit-key-file", str(tmp_path / "data" / "keys" / "audit.key")]
    import subprocess

    result = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert "outside the data folder" in result.stderr and "Traceback" not in result.stderr
