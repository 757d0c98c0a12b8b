"""Incremental runs and deletions by ref through a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
from server_testdata import binary_bytes, bodies_data, encodings, noisy_copy, random_clks
from server_testkit import LiveServer, wait_run


def _upload(live: LiveServer, cred: str, pid: str, clks, refs, mode: str) -> dict:
    with live.client(cred) as c:
        r = c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": mode},
            content=binary_bytes(encodings(np.asarray(clks), refs=list(refs))),
        )
    assert r.status_code == 201, r.text
    return r.json()


def _run(live: LiveServer, coord: str, pid: str) -> dict:
    with live.client(coord) as c:
        done = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
    assert done["status"] == "done", done
    return done


def _tokens(live: LiveServer, coord: str, pid: str) -> dict[tuple[str, str], str]:
    with live.client(coord) as c:
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    return {(b, r): t for t, b, r in rows["rows"]}


def _groups(tokens: dict[tuple[str, str], str], only: set[str] | None = None) -> set[frozenset]:
    by: dict[str, set] = {}
    for key, tok in tokens.items():
        if only is None or tok in only:
            by.setdefault(tok, set()).add(key)
    return {frozenset(v) for v in by.values()}


def _review(live: LiveServer, coord: str, pid: str) -> set[str]:
    with live.client(coord) as c:
        rows = c.get(f"/api/v1/projects/{pid}/results/review").json()["tokens"]
    return {t["token"] for t in rows}


def _delete(live: LiveServer, cred: str, pid: str, refs: list[str]):
    with live.client(cred) as c:
        return c.post(f"/api/v1/projects/{pid}/uploads/deletions", json={"refs": refs})


def test_incremental_run_equals_a_full_relink(live: LiveServer) -> None:
    rng = np.random.default_rng(11)
    school, welfare = bodies_data(21, n_shared=40, n_own=30)
    rs = [f"{i:032x}" for i in range(len(school))]
    rw = [f"{i + 1000:032x}" for i in range(len(welfare))]
    project = live.new_project()
    pid, coord = project["project_id"], project["credentials"]["coordinator"]
    cs, cw = project["credentials"]["bodies"]["school"], project["credentials"]["bodies"]["welfare"]
    _upload(live, cs, pid, school, rs, "replace")
    _upload(live, cw, pid, welfare, rw, "replace")
    first = _run(live, coord, pid)
    assert first["stats"]["link_mode"] == "full"
    assert first["stats"]["link_full_reason"] == "no earlier run"
    before = _tokens(live, coord, pid)

    # The month's changes: school appends 6 new records (copies of welfare-only people)
    # and 2 changed ones (same ref: a shared child now a stranger, and a school-only child
    # now the copy of a welfare-only one); welfare deletes 3 shared children.
    new_clks = noisy_copy(rng, welfare[40:46])
    new_refs = [f"{i + 5000:032x}" for i in range(6)]
    changed = np.vstack([random_clks(rng, 1), noisy_copy(rng, welfare[50:51])])
    changed_idx = [0, 45]
    sent = _upload(live, cs, pid, np.vstack([new_clks, changed]),
                   new_refs + [rs[i] for i in changed_idx], "append")  # fmt: skip
    assert sent["replaced_records"] == 2
    gone = [rw[1], rw[2], rw[3]]
    r = _delete(live, cw, pid, gone)
    assert r.status_code == 200 and r.json() == {"deleted": 3}
    second = _run(live, coord, pid)
    stats = second["stats"]
    assert stats["link_mode"] == "incremental"
    assert (stats["delta_added"], stats["delta_changed"], stats["delta_deleted"]) == (6, 2, 3)
    assert stats["delta_records"] == 8 and stats["records"] == 70 + 70 + 6 - 3
    after = _tokens(live, coord, pid)
    # Tokens stay with unchanged groups; events are recorded as in full runs.
    assert after[("school", rs[5])] == before[("school", rs[5])]
    with live.client(coord) as c:
        events = [e for e in c.get(f"/api/v1/projects/{pid}/results/events").json()["events"]
                  if e["run_id"] == second["run_id"]]  # fmt: skip
    kinds = {e["kind"] for e in events}
    assert {"merge", "split"} <= kinds and stats["merges"] >= 1 and stats["splits"] >= 1

    # The same final data, linked in full in a fresh project (same record order).
    fresh = live.new_project()
    fpid, fcoord = fresh["project_id"], fresh["credentials"]["coordinator"]
    fb = fresh["credentials"]["bodies"]
    keep_s = [i for i in range(len(school)) if i not in changed_idx]
    final_refs = [rs[i] for i in keep_s] + new_refs + [rs[i] for i in changed_idx]
    final_clks = np.vstack([school[keep_s], new_clks, changed])
    _upload(live, fb["school"], fpid, final_clks, final_refs, "replace")
    keep_w = [i for i in range(len(welfare)) if rw[i] not in gone]
    _upload(live, fb["welfare"], fpid, welfare[keep_w], [rw[i] for i in keep_w], "replace")
    full = _run(live, fcoord, fpid)
    assert full["stats"]["link_mode"] == "full"
    full_tokens = _tokens(live, fcoord, fpid)
    assert set(full_tokens) == set(after)
    assert _groups(full_tokens) == _groups(after)
    assert _groups(full_tokens, _review(live, fcoord, fpid)) == _groups(
        after, _review(live, coord, pid)
    )
    for key in ("groups", "linked_groups", "review_groups"):
        assert stats[key] == full["stats"][key]

    # Nothing changed: incremental with an empty delta, every token kept, no events.
    third = _run(live, coord, pid)
    assert third["stats"]["link_mode"] == "incremental"
    assert third["stats"]["delta_records"] == 0 and third["stats"]["comparisons"] == 0
    assert _tokens(live, coord, pid) == after
    assert third["stats"]["merges"] == third["stats"]["splits"] == 0

    # The pair state is a private server file, gone when the project closes.
    folder = live.settings.uploads_dir / "pairs" / pid
    assert (folder / f"{third['run_id']}.npz").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    assert not (folder / f"{first['run_id']}.npz").exists()
    with live.client(coord) as c:
        assert c.post(f"/api/v1/projects/{pid}/close").status_code == 200
    assert not folder.exists()


def test_unreadable_pair_state_makes_a_full_run(live: LiveServer) -> None:
    school, welfare = bodies_data(5, n_shared=10, n_own=5)
    project = live.new_project()
    pid, coord = project["project_id"], project["credentials"]["coordinator"]
    creds = project["credentials"]["bodies"]
    _upload(live, creds["school"], pid, school, [f"{i:032x}" for i in range(15)], "replace")
    _upload(live, creds["welfare"], pid, welfare, [f"{i:032x}" for i in range(15)], "replace")
    _run(live, coord, pid)
    # A stored state that no longer reads back (or of another format) is not trusted.
    folder = live.settings.uploads_dir / "pairs" / pid
    for path in folder.glob("*.npz"):
        path.write_bytes(b"damaged")
    again = _run(live, coord, pid)
    assert again["stats"]["link_mode"] == "full"
    assert again["stats"]["link_full_reason"] == "no stored pairs of the previous run"


def test_deletion_by_ref_auth_and_errors(live: LiveServer) -> None:
    rng = np.random.default_rng(3)
    project = live.new_project()
    pid, coord = project["project_id"], project["credentials"]["coordinator"]
    creds = project["credentials"]["bodies"]
    rs = [f"{i:032x}" for i in range(10)]
    rw = [f"{i + 100:032x}" for i in range(10)]
    _upload(live, creds["school"], pid, random_clks(rng, 6), rs[:6], "replace")
    _upload(live, creds["school"], pid, random_clks(rng, 4), rs[6:], "append")
    _upload(live, creds["welfare"], pid, random_clks(rng, 10), rw, "replace")

    def counts() -> dict[str, int]:
        with live.client(coord) as c:
            return c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]

    # Another body's ref, or an unknown one, mixed with own refs: 404, nothing deleted.
    for refs in ([rs[0], rw[0]], [rs[1], "f" * 32]):
        r = _delete(live, creds["school"], pid, refs)
        assert r.status_code == 404 and "1 of the 2 ref(s)" in r.json()["detail"]
        assert "nothing was deleted" in r.json()["detail"]
    assert counts() == {"school": 10, "welfare": 10}
    bad = _delete(live, creds["school"], pid, ["not-a-ref"])
    assert bad.status_code == 422 and "refs[0]" in bad.json()["detail"]
    assert _delete(live, creds["school"], pid, [rs[0], rs[0]]).status_code == 422
    assert _delete(live, creds["school"], pid, []).status_code == 422
    with live.client(coord) as c:  # only a body deletes, and only its own
        r = c.post(f"/api/v1/projects/{pid}/uploads/deletions", json={"refs": [rs[0]]})
        assert r.status_code == 403
    other = live.new_project()["credentials"]["bodies"]["school"]
    assert _delete(live, other, pid, [rs[0]]).status_code in (403, 404)
    assert counts() == {"school": 10, "welfare": 10}

    # Across two uploads; the second upload loses all its records and goes.
    r = _delete(live, creds["school"], pid, [rs[0], *rs[6:]])
    assert r.status_code == 200 and r.json() == {"deleted": 5}
    assert counts() == {"school": 5, "welfare": 10}
    assert _delete(live, creds["school"], pid, [rs[0]]).status_code == 404  # already gone
    with live.client(coord) as c:
        audit = c.get(f"/api/v1/projects/{pid}/audit").json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    deleted = [e for e in entries if e["action"] == "records.deleted"]
    assert len(deleted) == 1 and deleted[0]["detail"]["records"] == 5
    assert rs[0] not in str(deleted[0])  # the audit log holds counts, not refs
    # The mapping of the next run has no token for the deleted refs.
    _run(live, coord, pid)
    with live.client(creds["school"]) as c:
        rows = c.get(f"/api/v1/projects/{pid}/results/mapping", params={"format": "json"}).json()
    assert {ref for ref, _ in rows["rows"]} == set(rs[1:6])


def _cli(args: list[str]) -> int:
    from kakehashi.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_delete_records(live: LiveServer, tmp_path, capsys) -> None:
    rng = np.random.default_rng(4)
    project = live.new_project()
    pid, cred = project["project_id"], project["credentials"]["bodies"]["school"]
    rs = [f"{i:032x}" for i in range(5)]
    _upload(live, cred, pid, random_clks(rng, 5), rs, "replace")
    cred_file = tmp_path / "school.credential"
    cred_file.write_text(cred)
    refs_file = tmp_path / "gone.txt"
    refs_file.write_text(f"{rs[1]}\n{rs[2]}\n\n")
    base = ["delete-records", "--server", live.url, "--project", pid,
            "--credential", str(cred_file)]  # fmt: skip
    assert _cli([*base, rs[0], "--refs-file", str(refs_file)]) == 0
    assert "deleted 3 record(s)" in capsys.readouterr().out
    assert _cli([*base, rs[0]]) != 0
    said = capsys.readouterr()
    assert "404" in said.out + said.err
    assert "not among this body's current records" in said.out + said.err
    with live.client(project["credentials"]["coordinator"]) as c:
        assert c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]["school"] == 2
