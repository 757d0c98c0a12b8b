"""A body's mapping does not reveal which of its records newly matched (issue 12, item 1).

The finding: tokens were stable across runs, so when another body's new upload bridged two
groups, one of the two old tokens disappeared and the records that had carried it showed a
new token in their body's own mapping, while the body's singletons kept theirs. Each body
now sees per-run, per-body tokens (HMAC of the stable token under a per-run key the
server keeps): every record's token changes from one run to the next, so none can be
linked across runs, and the coordinator keeps the stable tokens.
"""

from __future__ import annotations

import numpy as np
from server_testdata import binary_bytes, encodings, noisy_copy, random_clks
from server_testkit import LiveServer, wait_run

N = 15  # bridged people (and as many school singletons)


def _upload(live: LiveServer, cred: str, pid: str, data: bytes) -> None:
    with live.client(cred) as c:
        r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"}, content=data)
    assert r.status_code == 201, r.text


def _run(live: LiveServer, coord: str, pid: str) -> dict[tuple[str, str], str]:
    with live.client(coord) as c:
        done = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
        assert done["status"] == "done", done
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    return {(body, ref): token for token, body, ref in rows["rows"]}


def _mapping(live: LiveServer, cred: str, pid: str) -> dict[str, str]:
    with live.client(cred) as c:
        r = c.get(f"/api/v1/projects/{pid}/results/mapping", params={"format": "json"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json()["rows"])


def test_bridging_upload_does_not_show_in_the_first_bodys_mapping(live: LiveServer) -> None:
    # threshold 0.8: the scenario needs noisy copies too far apart to link directly
    project = live.new_project(bodies=("school", "welfare", "health"), threshold=0.8)
    pid, creds = project["project_id"], project["credentials"]
    coord, school_cred = creds["coordinator"], creds["bodies"]["school"]
    rng = np.random.default_rng(12)
    base = random_clks(rng, N)
    # school and welfare hold noisy versions of the same people, too far apart to link
    # directly; health's later upload (the clean versions) is close to both: a bridge.
    school = encodings(np.vstack([noisy_copy(rng, base, 80), random_clks(rng, N)]))
    welfare = encodings(noisy_copy(rng, base, 80))
    _upload(live, school_cred, pid, binary_bytes(school))
    _upload(live, creds["bodies"]["welfare"], pid, binary_bytes(welfare))
    _upload(live, creds["bodies"]["health"], pid, binary_bytes(encodings(random_clks(rng, 3))))
    first = _run(live, coord, pid)
    mine1 = _mapping(live, school_cred, pid)

    _upload(live, creds["bodies"]["health"], pid, binary_bytes(encodings(base)))
    second = _run(live, coord, pid)
    mine2 = _mapping(live, school_cred, pid)

    bridged, singles = school.refs[:N], school.refs[N:]
    # The scenario is a real bridge: for the coordinator, the school and welfare records
    # were apart and are now one group that kept one of the two stable tokens.
    for s_ref, w_ref in zip(bridged, welfare.refs, strict=True):
        assert first[("school", s_ref)] != first[("welfare", w_ref)]
        assert second[("school", s_ref)] == second[("welfare", w_ref)]
        assert second[("school", s_ref)] in {first[("school", s_ref)], first[("welfare", w_ref)]}
    assert all(second[("school", r)] == first[("school", r)] for r in singles)
    # With stable tokens the school would see exactly this difference (the finding):
    changed_stable = sum(second[("school", r)] != first[("school", r)] for r in bridged)
    assert 0 < changed_stable < N

    # What the school sees: every record, bridged or not, has a new token in run 2, and
    # the two runs' tokens share nothing, so no record can be linked across runs.
    assert set(mine1) == set(mine2) == set(school.refs)
    assert all(mine1[r] != mine2[r] for r in school.refs)
    assert not set(mine1.values()) & set(mine2.values())
    # The body's tokens are not the coordinator's, and within one run they still tell
    # apart the body's records (every record its own token: school does not deduplicate).
    stable = set(first.values()) | set(second.values())
    assert not (set(mine1.values()) | set(mine2.values())) & stable
    assert len(set(mine2.values())) == len(school.refs)
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in mine2.values())
    # Downloading again within the same run gives the same mapping (it is per run).
    assert _mapping(live, school_cred, pid) == mine2


def test_body_tokens_differ_per_body_for_the_same_group(live: LiveServer) -> None:
    """Two bodies with records in the same group cannot tell so by comparing mappings."""
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(3)
    people = random_clks(rng, 10)
    school, welfare = encodings(people), encodings(noisy_copy(rng, people, 5))
    _upload(live, creds["bodies"]["school"], pid, binary_bytes(school))
    _upload(live, creds["bodies"]["welfare"], pid, binary_bytes(welfare))
    table = _run(live, creds["coordinator"], pid)
    assert all(
        table[("school", a)] == table[("welfare", b)]
        for a, b in zip(school.refs, welfare.refs, strict=True)
    )
    a = _mapping(live, creds["bodies"]["school"], pid)
    b = _mapping(live, creds["bodies"]["welfare"], pid)
    assert not set(a.values()) & set(b.values())


def test_the_view_key_never_leaves_the_server(live: LiveServer) -> None:
    from sqlalchemy import create_engine, text

    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(4)
    _upload(live, creds["bodies"]["school"], pid, binary_bytes(encodings(random_clks(rng, 5))))
    _upload(live, creds["bodies"]["welfare"], pid, binary_bytes(encodings(random_clks(rng, 5))))
    _run(live, creds["coordinator"], pid)
    engine = create_engine(live.settings.resolved_database_url)
    with engine.connect() as conn:
        keys = [k for (k,) in conn.execute(text("select view_key from runs"))]
    engine.dispose()
    assert keys and all(len(k) == 64 for k in keys)
    seen = []
    with live.client(creds["coordinator"]) as c:
        for path in ("runs", "audit", "results/tokens", "results/events", "results/review"):
            seen.append(c.get(f"/api/v1/projects/{pid}/{path}").text)
    with live.client(creds["bodies"]["school"]) as c:
        seen.append(c.get(f"/api/v1/projects/{pid}/results/mapping").text)
        seen.append(c.get(f"/api/v1/projects/{pid}").text)
    assert not any(k in text_ for k in keys for text_ in seen)
