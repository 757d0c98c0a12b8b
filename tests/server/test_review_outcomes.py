"""Review outcomes: recorded by the coordinator, audited, and kept by the next run."""

from __future__ import annotations

import numpy as np
from server_testdata import binary_bytes, encodings, noisy_copy, random_clks
from server_testkit import LiveServer, wait_run

PROBLEM = "application/problem+json"


def _twins_project(live: LiveServer, seed: int):
    """School holds twins (refs[0], refs[1]); welfare one record close to both (refs[0])."""
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(seed)
    base = random_clks(rng, 1)
    others = random_clks(rng, 10)
    school = encodings(np.vstack([noisy_copy(rng, base, 12), noisy_copy(rng, base, 12), others]))
    welfare = encodings(np.vstack([noisy_copy(rng, base, 6), noisy_copy(rng, others, 8)]))
    for body, enc in (("school", school), ("welfare", welfare)):
        with live.client(creds["bodies"][body]) as c:
            r = c.post(
                f"/api/v1/projects/{pid}/uploads",
                params={"mode": "replace"},
                content=binary_bytes(enc),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 201, r.text
    return pid, creds, school, welfare


def _run(c, pid: str) -> tuple[dict, dict[tuple[str, str], str], set[str]]:
    done = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
    assert done["status"] == "done", done
    rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    review = c.get(f"/api/v1/projects/{pid}/results/review").json()
    return (
        done,
        {(b, r): t for t, b, r in rows["rows"]},
        {t["token"] for t in review["tokens"]},
    )


def test_confirmed_outcome_links_next_run_and_is_not_asked_again(live: LiveServer) -> None:
    pid, creds, school, welfare = _twins_project(live, seed=21)
    with live.client(creds["coordinator"]) as c:
        _, token_of, flagged = _run(c, pid)
        twin_b = token_of[("school", school.refs[1])]
        rival = token_of[("welfare", welfare.refs[0])]
        assert {twin_b, rival} <= flagged and twin_b != rival
        # the bodies checked: the welfare record is the second twin
        r = c.post(
            f"/api/v1/projects/{pid}/review/outcomes",
            json={"outcome": "confirmed", "tokens": [twin_b, rival]},
        )
        assert r.status_code == 201, r.text
        recorded = r.json()
        assert recorded["outcome"] == "confirmed" and len(recorded["parts"][0]) == 2
        # the first twin: checked, stays on its own
        twin_a = token_of[("school", school.refs[0])]
        r = c.post(
            f"/api/v1/projects/{pid}/review/outcomes",
            json={"outcome": "confirmed", "tokens": [twin_a]},
        )
        assert r.status_code == 201, r.text
        done, token_of, flagged = _run(c, pid)
        assert token_of[("school", school.refs[1])] == token_of[("welfare", welfare.refs[0])]
        assert token_of[("school", school.refs[0])] != token_of[("welfare", welfare.refs[0])]
        assert not flagged, "an answered question is asked again"
        assert done["stats"]["known_links"] == 1
        listed = c.get(f"/api/v1/projects/{pid}/review/outcomes").json()["outcomes"]
        assert [o["outcome"] for o in listed] == ["confirmed", "confirmed"]
        audit = c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]
    entries = [e for e in audit if e["action"] == "review.outcome"]
    assert len(entries) == 2
    assert entries[0]["detail"]["records"] == 2 and "parts" not in entries[0]["detail"]


def test_split_outcome_keeps_parts_apart(live: LiveServer) -> None:
    pid, creds, school, welfare = _twins_project(live, seed=22)
    with live.client(creds["coordinator"]) as c:
        _, token_of, _ = _run(c, pid)
        # a clear match the engine linked; the bodies say they are different children
        s_ref, w_ref = school.refs[5], welfare.refs[4]
        token = token_of[("school", s_ref)]
        assert token == token_of[("welfare", w_ref)]
        r = c.post(
            f"/api/v1/projects/{pid}/review/outcomes",
            json={
                "outcome": "split",
                "tokens": [token],
                "parts": [[{"body": "school", "ref": s_ref}], [{"body": "welfare", "ref": w_ref}]],
            },
        )
        assert r.status_code == 201, r.text
        _, token_of, _ = _run(c, pid)
        assert token_of[("school", s_ref)] != token_of[("welfare", w_ref)]


def test_bad_outcomes_are_refused_and_nothing_is_stored(live: LiveServer) -> None:
    pid, creds, school, _ = _twins_project(live, seed=23)
    with live.client(creds["coordinator"]) as c:
        url = f"/api/v1/projects/{pid}/review/outcomes"
        r = c.post(url, json={"outcome": "confirmed", "tokens": ["0" * 32]})
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
        _, token_of, _ = _run(c, pid)
        twins = [token_of[("school", school.refs[0])], token_of[("school", school.refs[1])]]
        cases = [
            ({"outcome": "maybe", "tokens": twins[:1]}, 422, None),
            ({"outcome": "confirmed", "tokens": []}, 422, None),
            ({"outcome": "confirmed", "tokens": ["f" * 32]}, 422, "not in the latest"),
            ({"outcome": "confirmed", "tokens": twins}, 422, "one record per body"),
            ({"outcome": "split", "tokens": twins[:1]}, 422, "only one record"),
            (
                {"outcome": "split", "tokens": twins,
                 "parts": [[{"body": "school", "ref": school.refs[0]}]]},
                422, "at least two",
            ),
            (
                {"outcome": "split", "tokens": twins,
                 "parts": [[{"body": "school", "ref": school.refs[0]}],
                           [{"body": "school", "ref": school.refs[2]}]]},
                422, "exactly once",
            ),
            ({"outcome": "unsure", "tokens": twins, "parts": []}, 422, "split only"),
        ]  # fmt: skip
        for body, status, words in cases:
            r = c.post(url, json=body)
            assert r.status_code == status, (body, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
            if words:
                assert words in r.json()["detail"], r.json()
        assert c.get(url).json() == {"outcomes": []}
        # unsure is recorded but changes nothing
        assert c.post(url, json={"outcome": "unsure", "tokens": twins}).status_code == 201
    with live.client(creds["bodies"]["school"]) as c:
        assert c.get(url).status_code == 403
