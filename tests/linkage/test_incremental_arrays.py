"""The array-based token update decides exactly as the rule says (issue 15, item 4).

``reference`` is the rule written out one record at a time, as ``update_tokens`` was before
it moved to arrays; hypothesis checks that both agree on every decision (fresh tokens are
random, so they are compared by which groups get one).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.incremental import update_token_bytes, update_tokens
from linkage.tokens import new_token_bytes

OLD = ["a", "b", "c", "d", "e"]


def reference(previous: list[str | None], groups: list[int], n_groups: int, age: dict) -> dict:
    """Which old token each group keeps (None: a fresh one), merges, splits, retired."""
    counts = Counter((g, t) for g, t in zip(groups, previous, strict=True) if t)
    per_token: dict[str, set[int]] = {}
    per_group: dict[int, set[str]] = {}
    for g, t in counts:
        per_token.setdefault(t, set()).add(g)
        per_group.setdefault(g, set()).add(t)
    kept: list[str | None] = [None] * n_groups
    taken: set[str] = set()
    for (g, t), _ in sorted(
        counts.items(), key=lambda it: (-it[1], age.get(it[0][1], float("inf")), it[0][1], it[0][0])
    ):
        if kept[g] is None and t not in taken:
            kept[g] = t
            taken.add(t)
    merges = [
        (g, tuple(sorted(olds, key=lambda t: (age.get(t, float("inf")), t))))
        for g, olds in sorted(per_group.items())
        if len(olds) > 1
    ]
    splits = [(t, tuple(sorted(gs))) for t, gs in sorted(per_token.items()) if len(gs) > 1]
    return {
        "kept": kept,
        "merges": merges,
        "splits": splits,
        "retired": sorted(set(per_token) - taken),
    }


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[str | None], list[int], int, dict[str, int]]:
    n_groups = draw(st.integers(1, 6))
    n = draw(st.integers(0, 25))
    groups = draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n))
    previous = draw(st.lists(st.sampled_from([None, *OLD]), min_size=n, max_size=n))
    ages = draw(st.dictionaries(st.sampled_from(OLD), st.integers(0, 3)))
    return previous, groups, n_groups, ages


@settings(max_examples=150, deadline=None)
@given(runs())
def test_update_tokens_follows_the_rule(case: tuple) -> None:
    previous, groups, n_groups, ages = case
    want = reference(previous, groups, n_groups, ages)
    got = update_tokens(previous, groups, n_groups, token_age=ages)
    fresh = set(got.new_tokens)
    assert [None if t in fresh else t for t in got.group_tokens] == want["kept"]
    assert len(fresh) == want["kept"].count(None) and not fresh & set(OLD)
    assert got.record_tokens == [got.group_tokens[g] for g in groups]
    assert [(got.group_tokens.index(m.token), m.merged) for m in got.merges] == want["merges"]
    assert [
        (s.token, tuple(got.group_tokens.index(t) for t in s.into)) for s in got.splits
    ] == want["splits"]
    assert got.retired_tokens == want["retired"]


@settings(max_examples=80, deadline=None)
@given(runs())
def test_byte_tokens_decide_as_string_tokens(case: tuple) -> None:
    previous, groups, n_groups, _ = case
    olds = new_token_bytes(len(OLD))
    hexes = {name: olds[i].tobytes().hex() for i, name in enumerate(OLD)}
    order = sorted(OLD, key=lambda name: hexes[name])
    table = np.array([np.frombuffer(bytes.fromhex(hexes[n]), np.uint8) for n in order])
    ids = np.array([order.index(t) if t else -1 for t in previous], dtype=np.int64)
    as_hex = [hexes[t] if t else None for t in previous]
    want = reference(as_hex, groups, n_groups, {})
    got = update_token_bytes(ids, table, np.array(groups, dtype=np.int64), n_groups)
    tokens = [row.tobytes().hex() for row in got.group_tokens]
    kept = [t if t in hexes.values() else None for t in tokens]
    assert kept == want["kept"] and got.n_new == kept.count(None)
    assert len(set(tokens)) == n_groups  # fresh tokens differ from each other and old ones
    assert [(tokens.index(m.token), m.merged) for m in got.merges] == want["merges"]
    assert [(s.token, tuple(tokens.index(t) for t in s.into)) for s in got.splits] == want["splits"]
    assert got.retired_tokens == want["retired"]


def test_fresh_byte_tokens_avoid_the_old_ones() -> None:
    old = new_token_bytes(1000)
    fresh = new_token_bytes(1000, avoid=old)
    every = {row.tobytes() for row in np.concatenate([old, fresh])}
    assert len(every) == 2000
    zeros = np.zeros((3, 16), np.uint8)  # equal first 8 bytes take the careful path
    assert {row.tobytes() for row in new_token_bytes(50, avoid=zeros)}.isdisjoint({bytes(16)})
