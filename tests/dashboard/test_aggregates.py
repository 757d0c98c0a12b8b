"""Small-cell suppression of the linkage summary, and the coordinator's audit check."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.dashboard.aggregates import summarise, suppress_linear
from coordinator.dashboard.auditcheck import check_entries, entry_hash
from server.core.audit import entry_hash as server_entry_hash

BODIES = ("jumin", "gakko", "hoiku", "fukushi")


def _rows(groups: list[tuple[str, ...]]) -> list[tuple[str, str, str]]:
    return [(f"t{i}", b, f"r{i}{b}") for i, bs in enumerate(groups) for b in bs]


def test_counts_below_k_are_shown_as_less_than_k() -> None:
    groups = [("jumin",)] * 40 + [("jumin", "gakko")] * 25 + [("jumin", "gakko", "hoiku")] * 3
    s = summarise(_rows(groups), BODIES, ["t0", "t1"], k=10)
    by = {n: c.text for n, c in s.by_bodies}
    assert by[3] == "<10" and by[4] == "0"
    # one hidden cell beside a published total would give it away: another one is hidden
    assert sum(c.hidden for _, c in s.by_bodies) >= 2
    assert s.total.text == "68" and s.flagged.text == "<10"
    jumin, gakko = 0, 1
    assert s.overlap[jumin][gakko].text == "28"
    assert s.overlap[gakko][2].text == "<10"
    assert s.records["jumin"].text == "68"
    s5 = summarise(_rows(groups), BODIES, [], k=3)
    assert dict((n, c.text) for n, c in s5.by_bodies)[3] == "3"
    with pytest.raises(ValueError, match="k must be"):
        summarise([], BODIES, [], k=0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sets(st.sampled_from(BODIES), min_size=1).map(lambda s: tuple(sorted(s))),
        min_size=1,
        max_size=300,
    ),
    st.integers(2, 15),
)
def test_no_hidden_count_can_be_worked_out_from_published_counts(groups, k) -> None:
    """Every sum the page publishes that holds a hidden cell holds a second one, except
    where the rest of the sum is a body's record count (public on the overview anyway)."""
    s = summarise(_rows(groups), BODIES, [], k=k)
    n = len(s.bodies)
    combos = s.intersections
    pairs = list(itertools.combinations_with_replacement(range(n), 2))
    cells = [c for _, c in s.by_bodies] + [c for _, c in combos]
    cells += [s.overlap[a][b] for a, b in pairs]
    m = len(combos)
    public = {n + m + p for p, (a, b) in enumerate(pairs) if a == b}
    relations = [list(range(n))] if not s.total.hidden else []
    relations += [
        [size - 1] + [n + i for i, (c, _) in enumerate(combos) if len(c) == size]
        for size in range(1, n + 1)
    ]
    for p, (a, b) in enumerate(pairs):
        both = {s.bodies[a], s.bodies[b]}
        relations.append([n + m + p] + [n + i for i, (c, _) in enumerate(combos) if both <= set(c)])
    for rel in relations:
        if sum(cells[i].hidden for i in rel) == 1:
            others = [i for i in rel if not cells[i].hidden and cells[i].value > 0]
            assert all(i in public for i in others), (rel, [cells[i] for i in rel])
    for i, cell in enumerate(cells):
        if 0 < cell.value < k and i not in public:
            assert cell.hidden and cell.text == f"<{k}"


def test_suppress_linear_hides_a_second_cell() -> None:
    assert suppress_linear([50, 3, 20, 0], [[0, 1, 2, 3]], 10) == [False, True, True, False]
    assert suppress_linear([50, 30], [[0, 1]], 10) == [False, False]


def _entries() -> list[dict]:
    """A project's entries as the API returns them, with another project's in between."""
    prev, out = "0" * 64, []
    for seq, (pid, action) in enumerate(
        [("p", "project.created"), ("p", "run.queued"), ("q", "run.queued"), ("p", "run.done")], 1
    ):
        detail = {"run": f"r{seq}", "件": seq}
        text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        ts = f"2026-12-01T00:00:0{seq}+00:00"
        digest = server_entry_hash(prev, seq, ts, "system", pid, action, text)
        if pid == "p":
            out.append(
                {"seq": seq, "ts": ts, "actor": "system", "action": action, "detail": detail,
                 "prev_hash": prev, "hash": digest}
            )  # fmt: skip
        prev = digest
    return out


def test_audit_check_matches_the_server_hash_and_finds_tampering() -> None:
    assert entry_hash("a" * 64, 1, "t", "x", "p", "y", "{}") == server_entry_hash(
        "a" * 64, 1, "t", "x", "p", "y", "{}"
    )
    entries = _entries()
    ok = check_entries(entries, "p")
    assert ok.ok and ok.entries == 3 and ok.links_checked == 1 and ok.gaps == 1
    edited = [dict(e) for e in entries]
    edited[1]["detail"] = {"run": "other", "件": 2}
    bad = check_entries(edited, "p")
    assert not bad.ok and "記録 2" in bad.problems[0]
    relinked = [dict(e) for e in entries]
    relinked[1]["prev_hash"] = "f" * 64
    assert not check_entries(relinked, "p").ok
    assert not check_entries(list(reversed(entries)), "p").ok
    assert np.all([e["seq"] for e in entries] == [1, 2, 4])


def test_errors_in_plain_japanese_keep_unknown_messages() -> None:
    from coordinator.dashboard.words import plain

    said = plain("a run needs encodings from at least two bodies; 1 uploaded")
    assert said.startswith("照合には 2 つ以上の機関のデータが必要です（今は 1 機関）")
    assert plain("server refused the request (409): run abc is still queued or running") == (
        "前の照合がまだ終わっていません。"
    )
    assert plain("something new went wrong") == "something new went wrong"


def test_review_split_parts_follow_the_numbers_chosen_per_record() -> None:
    from coordinator.dashboard.app import Dashboard
    from coordinator.dashboard.sessions import Session

    session = Session("id", "csrf", 0.0, 0.0)
    rows = [["t1", "gakko", "r2"], ["t1", "boshi", "r1"], ["t1", "hoiku", "r3"], ["t2", "x", "y"]]
    session.cache["tokens"] = ("run", rows)
    # sorted records: boshi r1 (part-0), gakko r2 (part-1), hoiku r3 (part-2)
    parts = Dashboard._parts(session, "t1", {"part-0": "1", "part-1": "2", "part-2": "1"})
    assert parts == [
        [{"body": "boshi", "ref": "r1"}, {"body": "hoiku", "ref": "r3"}],
        [{"body": "gakko", "ref": "r2"}],
    ]
