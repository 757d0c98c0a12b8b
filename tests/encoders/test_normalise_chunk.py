"""normalise_columns' building blocks: the column memo and the column checks."""

from __future__ import annotations

import pytest

from encoders.normalise.chunk import ColumnMemo, normalise_columns


def test_column_memo_computes_each_distinct_value_once() -> None:
    calls: list[list[str]] = []

    def upper(values: list[str]) -> list[str]:
        calls.append(values)
        return [value.upper() for value in values]

    memo = ColumnMemo(upper, maxsize=10)
    assert memo(["a", "b", "a"]) == ["A", "B", "A"]
    assert memo(["b", "c"]) == ["B", "C"]
    assert calls == [["a", "b"], ["c"]]


def test_column_memo_starts_afresh_when_full_and_still_answers_every_value() -> None:
    memo = ColumnMemo(lambda values: [v * 2 for v in values], maxsize=4)
    assert memo(["a", "b", "c"]) == ["aa", "bb", "cc"]
    # Known values and new ones together overflow the memo: all must still be answered.
    assert memo(["a", "d", "e", "b"]) == ["aa", "dd", "ee", "bb"]
    assert memo(["f", "a", "g", "h", "i", "j"]) == ["ff", "aa", "gg", "hh", "ii", "jj"]
    memo.cache_clear()
    assert memo(["a"]) == ["aa"]


def test_a_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="column 'sex' has 1 values, expected 2"):
        normalise_columns({"sex": ["1"], "full_name": ["山田 太郎", "佐藤 花子"]}, 2)


def test_missing_columns_count_as_empty() -> None:
    result = normalise_columns({"full_name": ["山田　太郎"]}, 1)
    assert result.values["surname"] == ["山田"]
    assert result.values["address"] == [""]
    assert [issue.reason for _, issue in result.issues] == ["missing"]
