"""A run's status carries its per-stage times and memory; a body's appended uploads are
read as one, and records already linked keep their tokens (issue 15, item 4)."""

from __future__ import annotations

import numpy as np
from server_testdata import binary_bytes, bodies_data, encodings, random_clks
from server_testkit import LiveServer, wait_run

STAGES = {"load", "import", "link", "tokens", "write", "family"}


def _upload(live: LiveServer, cred: str, pid: str, data: bytes, mode: str) -> None:
    with live.client(cred) as c:
        r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": mode}, content=data)
        assert r.status_code == 201, r.text


def _tokens(live: LiveServer, cred: str, pid: str) -> dict[tuple[str, str], str]:
    with live.client(cred) as c:
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    return {(b, r): t for t, b, r in rows["rows"]}


def test_stage_times_in_status_and_appended_records_keep_tokens(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    school, welfare = bodies_data(seed=11, n_shared=25, n_own=15)
    enc_s, enc_w = encodings(school), encodings(welfare)
    # school's records arrive in two appended files: the run reads both
    head = binary_bytes(encodings(school[:20], refs=enc_s.refs[:20]))
    tail = binary_bytes(encodings(school[20:], refs=enc_s.refs[20:]))
    _upload(live, creds["bodies"]["school"], pid, head, "replace")
    _upload(live, creds["bodies"]["school"], pid, tail, "append")
    _upload(live, creds["bodies"]["welfare"], pid, binary_bytes(enc_w), "replace")
    with live.client(creds["coordinator"]) as c:
        first = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
    assert first["status"] == "done", first
    stats = first["stats"]
    assert stats["records"] == 80
    seconds = stats["seconds"]
    assert set(seconds) == STAGES | {"total"} and all(v >= 0 for v in seconds.values())
    assert sum(seconds[s] for s in STAGES) <= seconds["total"] + 0.01
    assert set(stats["peak_rss_mb"]) == STAGES and all(v > 0 for v in stats["peak_rss_mb"].values())
    assert stats["peak_rss_window"] in {"stage", "process"}
    assert {"candidates", "cluster", "total"} <= set(stats["link_seconds"])
    before = _tokens(live, creds["coordinator"], pid)
    assert len(before) == 80
    shared = {before[("school", a)] for a in enc_s.refs[:25]}
    assert shared == {before[("welfare", b)] for b in enc_w.refs[:25]}

    # welfare appends 5 new people: everyone already linked keeps the token
    extra = encodings(random_clks(np.random.default_rng(12), 5))
    _upload(live, creds["bodies"]["welfare"], pid, binary_bytes(extra), "append")
    with live.client(creds["coordinator"]) as c:
        second = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
    assert second["status"] == "done", second
    assert second["stats"]["records"] == 85
    assert second["stats"]["tokens_kept"] == second["stats"]["groups"] - 5
    after = _tokens(live, creds["coordinator"], pid)
    assert {k: after[k] for k in before} == before
    assert len({after[("welfare", r)] for r in extra.refs} - set(before.values())) == 5
