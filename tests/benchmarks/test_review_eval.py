"""The review iteration's wrong-group count agrees with the quality benchmark's."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import quality
from benchmarks.review_eval import submitted_wrong


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=30))
def test_submitted_wrong_matches_quality_wrong_groups(records: list[tuple[int, int]]) -> None:
    # Each record: (group, person). Groups are renumbered 0..k-1 as the engine's are.
    groups = sorted({g for g, _ in records})
    index = {g: i for i, g in enumerate(groups)}
    group_of = np.array([index[g] for g, _ in records], np.int64)
    person = np.array([p for _, p in records], np.int64)
    pred = {("a", str(i)): int(group_of[i]) for i in range(len(records))}
    truth = {("a", str(i)): f"P{person[i]}" for i in range(len(records))}
    expected = quality.wrong_groups(pred, truth)
    got = submitted_wrong(group_of, person, len(groups))
    assert set(np.flatnonzero(got).tolist()) == expected
