"""The support-list audit endpoint records who, when, the rule file's hash, the catalogue
version and the number listed — and accepts nothing else (no tokens, no list)."""

from __future__ import annotations

import hashlib
import json

from server_testkit import LiveServer

SHA = hashlib.sha256(b"rules").hexdigest()
TOKEN = "f3c1a9d2b7e845aa9c0d1e2f3a4b5c6d"


CATALOGUE = {
    "signals": [
        {
            "code": "jido_fuyo",
            "label": "児童扶養手当",
            "body": "welfare",
            "value_type": "flag",
            "purpose": "ひとり親家庭の困難を知るため",
        },
    ]
}


def _project(live: LiveServer, versions: int = 2) -> tuple[str, str]:
    """A project with ``versions`` catalogue versions; returns (project id, coordinator)."""
    project = live.new_project()
    pid, coordinator = project["project_id"], project["credentials"]["coordinator"]
    with live.client(coordinator) as c:
        for n in range(versions):
            doc = json.loads(json.dumps(CATALOGUE))
            doc["signals"][0]["purpose"] += "。" * n  # each change is a new version
            r = c.put(f"/api/v1/projects/{pid}/signals/catalogue", json=doc)
            assert r.status_code in (200, 201), r.text
    return pid, coordinator


def _entries(live: LiveServer, coordinator: str, pid: str) -> list[dict]:
    with live.client(coordinator) as c:
        r = c.get(f"/api/v1/projects/{pid}/audit")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_entry_carries_only_who_when_hash_version_and_count(live: LiveServer) -> None:
    pid, coordinator = _project(live)
    with live.client(coordinator) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/support-lists",
            json={"rules_sha256": SHA, "catalogue_version": 2, "listed": 17},
        )
    assert r.status_code == 201, r.text
    made = [e for e in _entries(live, coordinator, pid) if e["action"] == "support_list.made"]
    assert len(made) == 1
    entry = made[0]
    assert entry["seq"] == r.json()["seq"] and entry["ts"] == r.json()["recorded_at"]
    assert entry["actor"].startswith("coordinator:")
    assert entry["detail"] == {"rules_sha256": SHA, "catalogue_version": 2, "listed": 17}
    assert set(entry) == {"seq", "ts", "actor", "action", "detail", "prev_hash", "hash"}


def test_anything_beyond_the_summary_is_refused_and_not_stored(live: LiveServer) -> None:
    pid, coordinator = _project(live, versions=1)
    bad = [
        {"rules_sha256": SHA, "catalogue_version": 1, "listed": 1, "tokens": [TOKEN]},
        {"rules_sha256": SHA, "catalogue_version": 1, "listed": 1, "rows": [{"token": TOKEN}]},
        {"rules_sha256": "not-a-hash", "catalogue_version": 1, "listed": 1},
        {"rules_sha256": SHA, "catalogue_version": 0, "listed": 1},
        {"rules_sha256": SHA, "catalogue_version": 1, "listed": -1},
        {"rules_sha256": SHA, "listed": 1},
        {"rules_sha256": SHA, "catalogue_version": 2, "listed": 1},  # no such version
    ]
    with live.client(coordinator) as c:
        for body in bad:
            r = c.post(f"/api/v1/projects/{pid}/support-lists", json=body)
            assert r.status_code == 422, (body, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert TOKEN not in r.text
    entries = _entries(live, coordinator, pid)
    assert not [e for e in entries if e["action"] == "support_list.made"]
    assert TOKEN not in json.dumps(entries)


def test_only_the_projects_own_coordinator(live: LiveServer) -> None:
    ours, other = live.new_project(), live.new_project()
    pid = ours["project_id"]
    body = {"rules_sha256": SHA, "catalogue_version": 1, "listed": 0}
    with live.client(ours["credentials"]["bodies"]["school"]) as c:
        assert c.post(f"/api/v1/projects/{pid}/support-lists", json=body).status_code == 403
    with live.client(live.operator) as c:
        assert c.post(f"/api/v1/projects/{pid}/support-lists", json=body).status_code == 403
    with live.client(other["credentials"]["coordinator"]) as c:
        assert c.post(f"/api/v1/projects/{pid}/support-lists", json=body).status_code == 404
