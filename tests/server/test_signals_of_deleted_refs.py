"""Signals go with their records (SQLite and PostgreSQL): a deletion by ref, or an append
that replaces a ref, deletes the ciphertexts sent for those refs in the same transaction.

Real bodies' exports are encoded with signals (``test_signals_routes.Project``) and
uploaded to a live server; the database is then read directly to see what is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from server_testdata import binary_bytes, encodings, random_clks
from server_testkit import LiveServer
from sqlalchemy import text
from test_signals_routes import PEOPLE, Project, db_engine

from apiclient import ApiError
from encoders.secret import fingerprint


def _rows(live: LiveServer, table_sql: str, pid: str, body: str) -> list:
    engine = db_engine(live)
    try:
        with engine.connect() as conn:
            return conn.execute(text(table_sql), {"p": pid, "b": body}).all()
    finally:
        engine.dispose()


def _signal_refs(live: LiveServer, pid: str, body: str) -> dict[str, str]:
    """ref → upload id of the body's stored ciphertexts."""
    sql = "SELECT ref, upload_id FROM signal_rows WHERE project_id = :p AND body = :b"
    return {ref: upload for ref, upload in _rows(live, sql, pid, body)}


def _signal_uploads(live: LiveServer, pid: str, body: str) -> list[tuple[str, int]]:
    sql = "SELECT id, count FROM signal_uploads WHERE project_id = :p AND body = :b"
    return [(upload_id, count) for upload_id, count in _rows(live, sql, pid, body)]


def _audit(project: Project, action: str) -> list[dict[str, Any]]:
    with project.client() as c:
        entries = c.get_json(f"/projects/{project.pid}/audit")["entries"]
    return [e["detail"] for e in entries if e["action"] == action]


def test_deleting_records_deletes_their_signals(live: LiveServer, tmp_path: Path) -> None:
    project = Project(live, tmp_path, run=False)
    body = "学校"
    enc, keys, sealed = project.encode(body)
    project.upload(body, enc, keys, sealed)
    before = _signal_refs(live, project.pid, body)
    assert len(before) == len(PEOPLE)
    gone = sorted(before)[:2]
    with project.client(body) as c:
        assert c.delete_records(project.pid, gone) == {"deleted": 2}
    after = _signal_refs(live, project.pid, body)
    assert set(after) == set(before) - set(gone)
    assert [count for _, count in _signal_uploads(live, project.pid, body)] == [len(PEOPLE) - 2]
    # The other body's signals are untouched.
    assert len(_signal_refs(live, project.pid, "母子保健")) == len(PEOPLE)
    assert _audit(project, "records.deleted")[-1]["signals_deleted"] == 2
    # Sending the original signals file again is checked as new, not taken as unchanged:
    # it names the deleted refs, so it is refused and nothing changes.
    with project.client(body) as c, pytest.raises(ApiError) as refused:
        c.upload_signals(project.pid, sealed)
    assert refused.value.status == 422
    assert "not among this body's current encodings" in str(refused.value)
    assert set(_signal_refs(live, project.pid, body)) == set(after)


def test_deleting_every_signalled_record_deletes_the_upload_header(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path, run=False)
    body = "学校"
    refs = sorted(_signal_refs(live, project.pid, body))
    with project.client(body) as c:
        assert c.delete_records(project.pid, refs) == {"deleted": len(PEOPLE)}
    assert _signal_refs(live, project.pid, body) == {}
    assert _signal_uploads(live, project.pid, body) == []
    with project.client() as c:
        status = {b["body"]: b for b in c.signal_status(project.pid)["bodies"]}
    assert status[body]["uploads"] == []


def test_an_append_that_replaces_a_ref_deletes_that_refs_signals(
    live: LiveServer, tmp_path: Path
) -> None:
    project = Project(live, tmp_path, run=False)
    body = "母子保健"
    enc, keys, sealed = project.encode(body)
    project.upload(body, enc, keys, sealed)
    before = _signal_refs(live, project.pid, body)
    changed = sorted(before)[0]
    # A changed record: the same ref with another CLK, appended under the project's secret.
    clks = random_clks(np.random.default_rng(7), 1)
    data = binary_bytes(encodings(clks, refs=[changed], fingerprint=fingerprint(project.secret)))
    path = tmp_path / "changed.kkh"
    path.write_bytes(data)
    with project.client(body) as c:
        stored = c.upload(project.pid, path, mode="append")
    assert stored["replaced_records"] == 1
    assert set(_signal_refs(live, project.pid, body)) == set(before) - {changed}
    assert [count for _, count in _signal_uploads(live, project.pid, body)] == [len(PEOPLE) - 1]
    assert _audit(project, "upload.stored")[-1]["signals_deleted"] == 1
    # The body sends the signals again (every current ref): stored as a new upload.
    with project.client(body) as c:
        again = c.upload_signals(project.pid, sealed)
    assert again["duplicate"] is False and again["count"] == len(PEOPLE)
    assert set(_signal_refs(live, project.pid, body)) == set(before)


def test_an_append_of_new_refs_keeps_every_signal(live: LiveServer, tmp_path: Path) -> None:
    project = Project(live, tmp_path, run=False)
    body = "母子保健"
    before = _signal_refs(live, project.pid, body)
    clks = random_clks(np.random.default_rng(8), 2)
    path = tmp_path / "new.kkh"
    path.write_bytes(binary_bytes(encodings(clks, fingerprint=fingerprint(project.secret))))
    with project.client(body) as c:
        assert c.upload(project.pid, path, mode="append")["replaced_records"] == 0
    assert _signal_refs(live, project.pid, body) == before
    assert _audit(project, "upload.stored")[-1]["signals_deleted"] == 0
