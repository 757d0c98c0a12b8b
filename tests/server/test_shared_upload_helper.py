"""The upload routes share one way of receiving a body (``server.api.receive``): the same
413 for a declared or a streamed oversize body, the same 422 for a wrong X-Content-SHA256,
no temporary file left behind, and the same audit notes for a stored upload — on the
project and cross-link encodings routes, the signals route and the family route.

Live server, SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from server_testdata import FINGERPRINT, binary_bytes, encodings, random_clks
from server_testkit import LiveServer

API = "/api/v1"
JOINT = "0A0B-0C0D-0E0F-1011"


@pytest.fixture(scope="module")
def setup(live: LiveServer) -> dict[str, Any]:
    """Two projects (bodies school, welfare) and an open cross-link between them."""
    a, b = live.new_project(), live.new_project()
    with live.client(live.operator) as c:
        pids = [a["project_id"], b["project_id"]]
        r = c.post(f"{API}/crosslinks", json={"name": "x", "projects": pids})
        assert r.status_code == 201, r.text
        xid = r.json()["crosslink_id"]
    for p in (a, b):
        with live.client(p["credentials"]["coordinator"]) as c:
            assert c.post(f"{API}/crosslinks/{xid}/approve").status_code == 200
    return {"a": a, "xid": xid}


def _routes(setup: dict[str, Any]) -> dict[str, str]:
    pid = setup["a"]["project_id"]
    return {
        "project": f"{API}/projects/{pid}/uploads?mode=replace",
        "crosslink": f"{API}/crosslinks/{setup['xid']}/uploads",
        "signals": f"{API}/projects/{pid}/signals",
        "family": f"{API}/projects/{pid}/family",
    }


def _body(setup: dict[str, Any]) -> str:
    return str(setup["a"]["credentials"]["bodies"]["school"])


def _tmp_empty(live: LiveServer) -> bool:
    tmp = live.settings.uploads_dir / "tmp"
    return not tmp.exists() or not list(tmp.iterdir())


@pytest.mark.parametrize("route", ["project", "crosslink", "signals", "family"])
def test_oversize_body_is_413_declared_or_streamed(
    live: LiveServer, setup: dict[str, Any], route: str
) -> None:
    url = _routes(setup)[route]
    limit = live.settings.max_upload_bytes  # below every route's own cap in these tests
    with live.client(_body(setup)) as c:
        declared = c.post(url, content=b"\0" * (limit + 1))

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming
            for _ in range(limit // 65536 + 2):
                yield b"\0" * 65536

        streamed = c.post(url, content=chunks())
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert r.json()["detail"] == f"the upload exceeds the limit of {limit} bytes"
        assert r.json()["type"].endswith("/upload-too-large")
    assert _tmp_empty(live)


@pytest.mark.parametrize("route", ["project", "crosslink", "signals", "family"])
def test_wrong_checksum_is_422_and_nothing_is_stored(
    live: LiveServer, setup: dict[str, Any], route: str
) -> None:
    data = binary_bytes(encodings(random_clks(np.random.default_rng(3), 4)))
    wrong = hashlib.sha256(b"something else").hexdigest()
    with live.client(_body(setup)) as c:
        r = c.post(_routes(setup)[route], content=data, headers={"X-Content-SHA256": wrong})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        f"X-Content-SHA256 says {wrong} but the body hashes to {hashlib.sha256(data).hexdigest()}"
    )
    assert _tmp_empty(live)


def _audit_notes(live: LiveServer, setup: dict[str, Any], route: str) -> list[dict[str, Any]]:
    pid = setup["a"]["project_id"]
    with live.client(setup["a"]["credentials"]["coordinator"]) as c:
        entries = c.get(f"{API}/projects/{pid}/audit").json()["entries"]
    return [e["detail"] for e in entries if e["detail"].get("route") == route]


def test_stored_uploads_keep_their_audit_notes_and_responses(
    live: LiveServer, setup: dict[str, Any]
) -> None:
    rng = np.random.default_rng(4)
    own = binary_bytes(encodings(random_clks(rng, 6), fingerprint=FINGERPRINT))
    joint = binary_bytes(encodings(random_clks(rng, 5), fingerprint=JOINT))
    routes = _routes(setup)
    with live.client(_body(setup)) as c:
        r = c.post(routes["project"], content=own)
        assert r.status_code == 201, r.text
        assert r.json() == {
            "upload_id": r.json()["upload_id"],
            "count": 6,
            "sha256": hashlib.sha256(own).hexdigest(),
            "duplicate": False,
            "replaced_records": 0,
        }
        again = c.post(routes["project"], content=own)  # unchanged: answered, not stored
        assert again.status_code == 201
        assert again.json()["duplicate"] is True
        assert again.json()["upload_id"] == r.json()["upload_id"]
        x = c.post(routes["crosslink"], content=joint)
        assert x.status_code == 201, x.text
        assert x.json() == {
            "upload_id": x.json()["upload_id"],
            "count": 5,
            "sha256": hashlib.sha256(joint).hexdigest(),
        }
    stored = [
        (d["upload_sha256"], d["upload_bytes"], d["mode"])
        for d in _audit_notes(live, setup, "/api/v1/projects/{pid}/uploads")
        if d["status"] == 201
    ]
    assert stored == [(hashlib.sha256(own).hexdigest(), len(own), "replace")] * 2
    cross = _audit_notes(live, setup, "/api/v1/crosslinks/{xid}/uploads")
    assert cross[-1]["upload_sha256"] == hashlib.sha256(joint).hexdigest()
    assert cross[-1]["upload_bytes"] == len(joint)
    assert cross[-1]["crosslink"] == setup["xid"]
    assert _tmp_empty(live)
    files = sorted(p.name for p in live.settings.uploads_dir.glob("*.rec"))
    assert files == [f"{r.json()['upload_id']}.rec"]
    cross_files = sorted(p.name for p in (live.settings.uploads_dir / "crosslinks").glob("*.rec"))
    assert cross_files == [f"{x.json()['upload_id']}.rec"]
