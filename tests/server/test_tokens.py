"""Token assignment keeps tokens stable where groups held and records merges and splits."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from server.tokens import assign_tokens


def _counter():
    counter = itertools.count()
    return lambda: f"new{next(counter)}"


def test_first_run_gives_every_group_a_token() -> None:
    result = assign_tokens(np.array([0, 1, 1, 2]), [None] * 4, _counter())
    assert result.tokens[1] == result.tokens[2]
    assert len(set(result.tokens)) == 3 and result.events == []


def test_unchanged_groups_keep_tokens_and_new_records_join() -> None:
    result = assign_tokens(np.array([0, 0, 1, 0]), ["A", "A", "B", None], _counter())
    assert result.tokens == ["A", "A", "B", "A"] and result.kept == 2


def test_merge_and_split_events() -> None:
    merged = assign_tokens(np.array([0, 0]), ["A", "B"], _counter())
    assert merged.tokens == ["new0", "new0"]
    assert merged.events == [("merge", ["A", "B"], ["new0"])]
    split = assign_tokens(np.array([0, 1]), ["A", "A"], _counter())
    assert set(split.tokens) == {"new0", "new1"}
    assert split.events == [("split", ["A"], ["new0", "new1"])]


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30))
def test_same_grouping_twice_keeps_all_tokens(groups: list[int]) -> None:
    arr = np.array(groups)
    first = assign_tokens(arr, [None] * len(groups))
    second = assign_tokens(arr, list(first.tokens))
    assert second.tokens == first.tokens and second.events == []


@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.lists(st.integers(0, 5)))
def test_tokens_follow_groups_exactly(groups: list[int], _: list[int]) -> None:
    arr = np.array(groups)
    result = assign_tokens(arr, [None] * len(groups))
    for i, j in itertools.combinations(range(len(groups)), 2):
        assert (result.tokens[i] == result.tokens[j]) == (groups[i] == groups[j])
