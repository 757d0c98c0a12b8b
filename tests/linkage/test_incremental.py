from __future__ import annotations

import re

import pytest

from linkage.errors import LinkageError
from linkage.incremental import MergeEvent, SplitEvent, update_tokens
from linkage.tokens import new_tokens

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_new_tokens_are_distinct_128_bit_hex() -> None:
    toks = new_tokens(500)
    assert len(set(toks)) == 500 and all(HEX32.fullmatch(t) for t in toks)


def test_first_run_mints_a_token_for_every_group() -> None:
    u = update_tokens([None, None, None], [0, 0, 1], 2)
    assert len(set(u.group_tokens)) == 2 and u.new_tokens == u.group_tokens
    assert u.record_tokens[0] == u.record_tokens[1] != u.record_tokens[2]
    assert not u.merges and not u.splits


def test_unchanged_groups_keep_their_tokens_and_new_records_join() -> None:
    u = update_tokens(["a", "a", "b", None], [0, 0, 1, 1], 2)
    assert u.group_tokens == ["a", "b"] and u.new_tokens == [] and u.retired_tokens == []


def test_merge_keeps_majority_token_and_reports_the_merge() -> None:
    u = update_tokens(["a", "b", "b"], [0, 0, 0], 1)
    assert u.group_tokens == ["b"]
    assert u.merges == [MergeEvent("b", ("a", "b"))] and u.retired_tokens == ["a"]


def test_merge_tie_goes_to_the_oldest_token() -> None:
    u = update_tokens(["z", "y"], [0, 0], 1, token_age={"z": 1, "y": 2})
    assert u.group_tokens == ["z"]
    assert u.merges == [MergeEvent("z", ("z", "y"))]


def test_split_leaves_token_with_larger_part() -> None:
    u = update_tokens(["a", "a", "a"], [1, 0, 1], 2)
    assert u.group_tokens[1] == "a" and u.group_tokens[0] != "a"
    assert u.splits == [SplitEvent("a", (u.group_tokens[0], "a"))]
    assert u.new_tokens == [u.group_tokens[0]]


def test_bad_input_is_refused() -> None:
    with pytest.raises(LinkageError):
        update_tokens(["a"], [0, 1], 2)
    with pytest.raises(LinkageError):
        update_tokens(["a", None], [0, 2], 2)
