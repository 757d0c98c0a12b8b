"""Cross-municipality linkage through a real server, on SQLite and PostgreSQL (issue 15).

Two cities' projects, each with its own secret, bodies and coordinator; some children moved
from city A to city B. A cross-link must be approved by both coordinators before anything
is uploaded or run; each coordinator gets back only its own city's tokens of the children
who link to the other city, and nothing about the other city's records.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from server_testdata import FINGERPRINT, binary_bytes, encodings, noisy_copy, random_clks
from server_testkit import LiveServer, wait_run

from linkage.container import new_ref

JOINT = "1111-2222-3333-4444"  # the joint secret's fingerprint (not either city's)
B_SECRET = "5555-6666-7777-8888"  # city B's own secret
MOVERS, SHARED, OWN = 6, 12, 8
API = "/api/v1"


class City:
    """A project with two bodies, its uploads (clks and refs per body) and a finished run."""

    def __init__(self, live: LiveServer, bodies: tuple[str, str], fingerprint: str) -> None:
        self.live = live
        self.project = live.new_project(bodies=bodies, threshold=0.8)
        self.pid: str = self.project["project_id"]
        self.coordinator: str = self.project["credentials"]["coordinator"]
        self.bodies = bodies
        self.fingerprint = fingerprint
        self.clks: dict[str, np.ndarray] = {}
        self.refs: dict[str, list[str]] = {}

    def cred(self, body: str) -> str:
        return self.project["credentials"]["bodies"][body]

    def upload(self, body: str, clks: np.ndarray) -> None:
        refs = [new_ref() for _ in range(len(clks))]
        self.clks[body], self.refs[body] = clks, refs
        data = binary_bytes(encodings(clks, refs=refs, fingerprint=self.fingerprint))
        with self.live.client(self.cred(body)) as c:
            r = c.post(
                f"{API}/projects/{self.pid}/uploads",
                params={"mode": "replace"},
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        assert r.status_code == 201, r.text

    def run(self) -> dict[tuple[str, str], str]:
        """Run the project; return its token table as (body, ref) → token."""
        with self.live.client(self.coordinator) as c:
            rid = c.post(f"{API}/projects/{self.pid}/runs").json()["run_id"]
            assert wait_run(c, self.pid, rid)["status"] == "done"
            text = c.get(f"{API}/projects/{self.pid}/results/tokens").text
        return {(r["body"], r["ref"]): r["token"] for r in csv.DictReader(io.StringIO(text))}

    def cross_upload(self, xid: str, body: str, fingerprint: str = JOINT) -> int:
        """Upload the body's records to the cross-link under ``fingerprint``, same refs."""
        data = binary_bytes(
            encodings(self.clks[body], refs=self.refs[body], fingerprint=fingerprint)
        )
        with self.live.client(self.cred(body)) as c:
            r = c.post(
                f"{API}/crosslinks/{xid}/uploads",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        return r.status_code


@pytest.fixture
def cities(live: LiveServer) -> tuple[City, City, np.ndarray]:
    """City A (school, welfare) and city B (school, health); MOVERS children are in A's
    school and (noisy) in B's school; each city also has children of its own."""
    rng = np.random.default_rng(15)
    movers = random_clks(rng, MOVERS)
    a, b = (
        City(live, ("school", "welfare"), FINGERPRINT),
        City(live, ("school", "health"), B_SECRET),
    )
    for city in (a, b):
        shared = random_clks(rng, SHARED)
        first = movers if city is a else noisy_copy(rng, movers, 8)
        city.upload(city.bodies[0], np.vstack([first, shared, random_clks(rng, OWN)]))
        city.upload(city.bodies[1], np.vstack([noisy_copy(rng, shared, 8), random_clks(rng, OWN)]))
    return a, b, movers


def _post(live: LiveServer, cred: str, path: str, **kw: object):
    with live.client(cred) as c:
        return c.post(API + path, **kw)


def _get(live: LiveServer, cred: str, path: str):
    with live.client(cred) as c:
        return c.get(API + path)


def _cross_files(live: LiveServer) -> list[Path]:
    folder = live.settings.uploads_dir / "crosslinks"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_crosslink_needs_both_approvals_and_returns_only_own_tokens(
    live: LiveServer, cities: tuple[City, City, np.ndarray]
) -> None:
    a, b, _ = cities
    tokens_a, tokens_b = a.run(), b.run()
    r = _post(
        live, a.coordinator, "/crosslinks", json={"name": "A-B 転出入", "projects": [a.pid, b.pid]}
    )
    assert r.status_code == 201, r.text
    xid = r.json()["crosslink_id"]
    assert r.json()["status"] == "proposed"

    # Gate: nothing uploaded or run before both coordinators approved.
    files_before = _cross_files(live)
    assert a.cross_upload(xid, "school") == 409
    assert _post(live, a.coordinator, f"/crosslinks/{xid}/runs").status_code == 409
    approved = _post(live, a.coordinator, f"/crosslinks/{xid}/approve").json()
    assert approved["status"] == "proposed"  # B has not approved yet
    assert a.cross_upload(xid, "school") == 409
    assert _post(live, a.coordinator, f"/crosslinks/{xid}/runs").status_code == 409
    assert _post(live, a.coordinator, f"/crosslinks/{xid}/approve").json()["status"] == "proposed"
    # A body cannot approve; the operator cannot approve on a coordinator's behalf.
    assert _post(live, a.cred("school"), f"/crosslinks/{xid}/approve").status_code == 403
    assert _post(live, live.operator, f"/crosslinks/{xid}/approve").status_code == 403
    assert _cross_files(live) == files_before
    assert _post(live, b.coordinator, f"/crosslinks/{xid}/approve").json()["status"] == "open"

    # A city's own secret is refused for the cross-link (so cross encodings cannot be
    # compared with either city's project encodings), with nothing stored.
    assert a.cross_upload(xid, "school", fingerprint=FINGERPRINT) == 409
    assert b.cross_upload(xid, "school", fingerprint=B_SECRET) == 409
    assert _cross_files(live) == files_before
    view = _get(live, a.coordinator, f"/crosslinks/{xid}").json()
    assert not any(m["uploaded"] for m in view["members"])

    assert a.cross_upload(xid, "school") == 201
    assert a.cross_upload(xid, "welfare") == 201
    # Another joint secret than the one already used: refused, nothing stored.
    stored = _cross_files(live)
    assert b.cross_upload(xid, "school", fingerprint="9999-AAAA-BBBB-CCCC") == 409
    assert _cross_files(live) == stored
    assert b.cross_upload(xid, "school") == 201
    assert b.cross_upload(xid, "health") == 201

    # A coordinator sees its own upload counts, the other city's only as uploaded yes/no.
    view = _get(live, a.coordinator, f"/crosslinks/{xid}").json()
    mine = next(m for m in view["members"] if m["project_id"] == a.pid)
    theirs = next(m for m in view["members"] if m["project_id"] == b.pid)
    assert mine["upload_counts"] == {"school": MOVERS + SHARED + OWN, "welfare": SHARED + OWN}
    assert theirs["uploaded"] and "upload_counts" not in theirs

    with live.client(b.coordinator) as c:
        rid = c.post(f"{API}/crosslinks/{xid}/runs").json()["run_id"]
        run = _wait_cross(c, xid, rid)
    assert run["status"] == "done", run.get("error")
    assert run["own"] == {"records": 2 * (SHARED + OWN) + MOVERS, "linked": MOVERS}

    results_a = _get(live, a.coordinator, f"/crosslinks/{xid}/results").json()
    results_b = _get(live, b.coordinator, f"/crosslinks/{xid}/results").json()
    movers_a = set(a.refs["school"][:MOVERS])
    movers_b = set(b.refs["school"][:MOVERS])
    assert {r["ref"] for r in results_a["rows"]} == movers_a
    assert {r["ref"] for r in results_b["rows"]} == movers_b
    # Own tokens only, exactly those of the city's own token table.
    for rows, tokens in ((results_a["rows"], tokens_a), (results_b["rows"], tokens_b)):
        assert all(r["token"] == tokens[(r["body"], r["ref"])] for r in rows)
    assert results_a["unresolved"] == results_b["unresolved"] == 0
    # Both sides speak of the same children by the same opaque link ids.
    assert {r["link"] for r in results_a["rows"]} == {r["link"] for r in results_b["rows"]}
    assert results_a["links"] == MOVERS and results_a["direction"] == "unknown"
    # Nothing of the other city: none of its refs or tokens, matched or not.
    text_a = str(results_a)
    assert not any(ref in text_a for body in b.bodies for ref in b.refs[body])
    assert not any(tok in text_a for tok in tokens_b.values())

    # Isolation: B's coordinator cannot read A's project results; a third city's
    # coordinator and bodies cannot see or upload to the cross-link.
    assert _get(live, b.coordinator, f"/projects/{a.pid}/results/tokens").status_code == 404
    c_city = live.new_project(bodies=("school", "welfare"))
    c_coord, c_body = (
        c_city["credentials"]["coordinator"],
        c_city["credentials"]["bodies"]["school"],
    )
    assert _get(live, c_coord, f"/crosslinks/{xid}").status_code == 404
    assert _get(live, c_coord, f"/crosslinks/{xid}/results").status_code == 404
    assert _post(live, c_coord, f"/crosslinks/{xid}/approve").status_code == 404
    assert _post(live, c_body, f"/crosslinks/{xid}/uploads", content=b"x").status_code == 404
    assert _get(live, c_coord, "/crosslinks").json() == []

    # Every step is in each city's own audit log.
    for city in (a, b):
        actions = [
            e["action"]
            for e in _get(live, city.coordinator, f"/projects/{city.pid}/audit").json()["entries"]
        ]
        for action in ("crosslink.proposed", "crosslink.approved", "crosslink.opened",
                       "crosslink.upload.stored", "crosslink.run.queued", "crosslink.run.done",
                       "crosslink.results.download"):  # fmt: skip
            assert action in actions, (city.pid, action)

    # Withdrawal by either coordinator ends it: encodings and results deleted.
    assert _post(live, a.coordinator, f"/crosslinks/{xid}/withdraw").json()["status"] == "withdrawn"
    assert _cross_files(live) == files_before
    assert _get(live, b.coordinator, f"/crosslinks/{xid}/results").status_code == 409
    assert b.cross_upload(xid, "school") == 409
    assert _post(live, b.coordinator, f"/crosslinks/{xid}/approve").status_code == 409


def test_proposal_rules(live: LiveServer, cities: tuple[City, City, np.ndarray]) -> None:
    a, b, _ = cities
    other = live.new_project(bodies=("x", "y"))
    # A coordinator may only propose a cross-link that includes its own project.
    r = _post(
        live,
        a.coordinator,
        "/crosslinks",
        json={"name": "n", "projects": [b.pid, other["project_id"]]},
    )
    assert r.status_code == 422
    r = _post(live, live.operator, "/crosslinks", json={"name": "n", "projects": [a.pid, "0" * 32]})
    assert r.status_code == 404
    r = _post(live, live.operator, "/crosslinks", json={"name": "n", "projects": [a.pid, a.pid]})
    assert r.status_code == 422
    r = _post(live, a.cred("school"), "/crosslinks", json={"name": "n", "projects": [a.pid, b.pid]})
    assert r.status_code == 403
    # Proposed by the operator: still needs both coordinators; a run before that is refused.
    xid = _post(
        live, live.operator, "/crosslinks", json={"name": "n", "projects": [a.pid, b.pid]}
    ).json()["crosslink_id"]
    _post(live, b.coordinator, f"/crosslinks/{xid}/approve")
    assert (
        _post(live, b.coordinator, f"/crosslinks/{xid}/runs")
        .json()["type"]
        .endswith("not-approved")
    )
    _post(live, a.coordinator, f"/crosslinks/{xid}/approve")
    # Open, but only one city has uploaded: no run.
    files_before = _cross_files(live)
    assert a.cross_upload(xid, "school") == 201
    r = _post(live, a.coordinator, f"/crosslinks/{xid}/runs")
    assert r.status_code == 409 and "two member projects" in r.json()["detail"]
    # Closing a member project ends the cross-link and deletes its encodings.
    assert _post(live, b.coordinator, f"/projects/{b.pid}/close").status_code == 200
    assert _get(live, a.coordinator, f"/crosslinks/{xid}").json()["status"] == "withdrawn"
    assert _cross_files(live) == files_before
    assert a.cross_upload(xid, "welfare") == 409


def _wait_cross(client, xid: str, rid: str, timeout: float = 60) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"{API}/crosslinks/{xid}/runs/{rid}").json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"cross run {rid} did not finish")
