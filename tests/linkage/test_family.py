from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import LinkageError
from linkage.family import (
    AFTER_DAYS,
    BEFORE_DAYS,
    DATE_TAG_BYTES,
    PregnancyLinks,
    date_tag,
    derive_tag_key,
    households,
    match_pregnancies,
    pregnancy_window,
    window_offsets,
    window_tags,
)

KEY = derive_tag_key(b"s" * 32)
EDD = dt.date(2026, 3, 18)  # a Wednesday


def test_tag_key_is_deterministic_and_secret_dependent() -> None:
    assert derive_tag_key(b"s" * 32) == KEY and len(KEY) == 32
    assert derive_tag_key(b"t" * 32) != KEY
    with pytest.raises(LinkageError):
        derive_tag_key(b"short")


def test_date_tag_buckets_by_iso_week() -> None:
    monday, sunday = dt.date(2026, 3, 16), dt.date(2026, 3, 22)
    assert len(date_tag(KEY, monday)) == DATE_TAG_BYTES
    assert date_tag(KEY, monday) == date_tag(KEY, sunday)
    assert date_tag(KEY, sunday) != date_tag(KEY, sunday + dt.timedelta(days=1))
    assert date_tag(KEY, monday) != date_tag(derive_tag_key(b"t" * 32), monday)
    # ISO years: 2026-01-01 (Thursday) is in 2026-W01, 2027-01-01 (Friday) in 2026-W53
    assert date_tag(KEY, dt.date(2027, 1, 1)) == date_tag(KEY, dt.date(2026, 12, 28))


def test_window_edges() -> None:
    tags = window_tags(KEY, EDD)
    first = EDD - dt.timedelta(days=BEFORE_DAYS)
    last = EDD + dt.timedelta(days=AFTER_DAYS)
    assert date_tag(KEY, first) in tags and date_tag(KEY, last) in tags
    assert date_tag(KEY, EDD) in tags
    # a week beyond either edge's bucket is outside
    outside_before = first - dt.timedelta(days=first.weekday() + 1)
    outside_after = last + dt.timedelta(days=7 - last.weekday())
    assert date_tag(KEY, outside_before) not in tags
    assert date_tag(KEY, outside_after) not in tags
    assert tags == sorted(set(tags), key=tags.index) and len(tags) in (21, 22, 23)
    offsets = window_offsets(KEY, EDD)
    assert list(offsets) == tags and offsets[date_tag(KEY, EDD)] == 0
    assert min(offsets.values()) == -18 and max(offsets.values()) == 3  # EDD is a Wednesday
    narrow = window_tags(KEY, EDD, before_days=0, after_days=0)
    assert narrow == [date_tag(KEY, EDD)]
    with pytest.raises(LinkageError):
        window_tags(KEY, EDD, before_days=-1)


def _naive_components(rows: list[tuple[int, int]], n: int) -> list[int]:
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    by_g: dict[int, list[int]] = {}
    for c, g in rows:
        by_g.setdefault(g, []).append(c)
    for members in by_g.values():
        for a in members:
            adj[a].update(members)
    comp = [-1] * n
    label = 0
    for start in range(n):
        if comp[start] >= 0:
            continue
        stack = [start]
        comp[start] = label
        while stack:
            x = stack.pop()
            for y in adj[x]:
                if comp[y] < 0:
                    comp[y] = label
                    stack.append(y)
        label += 1
    return comp


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=0, max_value=25).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, 30)),
                max_size=0 if n == 0 else 40,
            ),
        )
    )
)
def test_households_are_connected_components(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, rows = case
    c = np.array([r[0] for r in rows], dtype=np.int64)
    g = np.array([r[1] for r in rows], dtype=np.int64)
    got = households(c, g, n)
    assert got.shape == (n,) and got.dtype == np.int64
    want = _naive_components(rows, n)
    # same partition, and numbered in order of each household's smallest child group
    assert got.tolist() == want


def test_households_step_family_and_single_parent() -> None:
    # child 0: mother 10 + father 11; child 1: mother 10 + step-father 12;
    # child 2: step-father 12's child from before; child 3: single parent 13; child 4: none
    c = np.array([0, 0, 1, 1, 2, 3])
    g = np.array([10, 11, 10, 12, 12, 13])
    assert households(c, g, 5).tolist() == [0, 0, 0, 1, 2]


def test_households_bad_input() -> None:
    with pytest.raises(LinkageError, match="differ in length"):
        households(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(LinkageError, match="beyond n_child_groups"):
        households(np.array([3]), np.array([0]), 2)
    with pytest.raises(LinkageError, match="negative"):
        households(np.array([-1]), np.array([0]), 2)
    with pytest.raises(LinkageError, match="integer"):
        households(np.array([0.5]), np.array([0]), 2)


def _tags(day: dt.date) -> bytes:
    return date_tag(KEY, day)


def test_twins_give_one_link_per_child_and_open_pregnancy() -> None:
    born = EDD - dt.timedelta(days=20)
    # pregnancy 0: mother 5, twins (child groups 7 and 8); pregnancy 1: mother 6, not born
    links = match_pregnancies(
        np.array([5, 6]),
        [set(window_tags(KEY, EDD)), set(window_tags(KEY, dt.date(2026, 8, 1)))],
        np.array([7, 7, 8, 9]),
        np.array([5, 40, 5, 6]),  # child 7 also has a father 40; child 9 is mother 6's elder
        [_tags(born), _tags(born), _tags(born), _tags(dt.date(2023, 5, 5))],
    )
    assert isinstance(links, PregnancyLinks)
    assert links.preg_index.tolist() == [0, 0]
    assert links.child_group.tolist() == [7, 8]
    assert links.open.tolist() == [1]
    assert not links.ambiguous.any()


def test_child_of_another_guardian_or_outside_window_is_not_taken() -> None:
    links = match_pregnancies(
        np.array([5]),
        [set(window_tags(KEY, EDD))],
        np.array([1, 2, 3]),
        np.array([6, 5, 5]),
        [
            _tags(EDD),  # same week, other mother
            _tags(EDD + dt.timedelta(days=AFTER_DAYS + 7)),  # too late
            _tags(EDD - dt.timedelta(days=BEFORE_DAYS + 7)),  # too early
        ],
    )
    assert links.preg_index.size == 0 and links.open.tolist() == [0]


def test_two_pregnancies_of_one_mother_closest_wins_or_flagged() -> None:
    lost = EDD
    next_edd = EDD + dt.timedelta(days=110)
    born = next_edd - dt.timedelta(days=100)  # very preterm: inside both windows
    rows = (np.array([3]), np.array([9]), [_tags(born)])
    with_offsets = match_pregnancies(
        np.array([9, 9]),
        [window_offsets(KEY, lost), window_offsets(KEY, next_edd)],
        *rows,
    )
    assert with_offsets.preg_index.tolist() == [0]  # 10 days from the lost one's EDD
    assert with_offsets.open.tolist() == [1] and not with_offsets.ambiguous.any()
    as_sets = match_pregnancies(
        np.array([9, 9]), [set(window_tags(KEY, lost)), set(window_tags(KEY, next_edd))], *rows
    )
    assert as_sets.preg_index.tolist() == [0, 1]
    assert as_sets.ambiguous.tolist() == [True, True] and as_sets.open.size == 0


def test_same_pregnancy_twice_ties_are_flagged_not_dropped() -> None:
    links = match_pregnancies(
        np.array([9, 9]),
        [window_offsets(KEY, EDD), window_offsets(KEY, EDD)],
        np.array([3, 3]),
        np.array([9, 9]),  # two relation rows for one child (two bodies)
        [_tags(EDD), _tags(EDD)],
    )
    assert links.preg_index.tolist() == [0, 1] and links.child_group.tolist() == [3, 3]
    assert links.ambiguous.all()


def test_match_bad_input() -> None:
    with pytest.raises(LinkageError, match="windows"):
        match_pregnancies(np.array([1]), [], np.array([]), np.array([]), [])
    with pytest.raises(LinkageError, match="differ in length"):
        match_pregnancies(np.array([1]), [set()], np.array([1]), np.array([]), [])
    empty = match_pregnancies(
        np.zeros(0, np.int64), [], np.zeros(0, np.int64), np.zeros(0, np.int64), []
    )
    assert empty.preg_index.size == 0 and empty.open.size == 0


def test_pregnancy_window_falls_back_to_notification_date() -> None:
    notified = EDD - dt.timedelta(weeks=30)
    plain = window_offsets(KEY, EDD)
    assert pregnancy_window(KEY, EDD, notified) == plain
    assert pregnancy_window(KEY, EDD) == plain
    # a mistyped year: the expected date is a year off, the birth is still found
    typo = EDD.replace(year=EDD.year + 1)
    wide = pregnancy_window(KEY, typo, notified)
    born = EDD - dt.timedelta(days=3)
    assert date_tag(KEY, born) not in window_offsets(KEY, typo)
    assert date_tag(KEY, born) in wide
    assert not set(window_offsets(KEY, typo)) & set(wide)  # the wrong date is not used
    # nothing before the notification week, nothing beyond 39 weeks after it
    assert date_tag(KEY, notified - dt.timedelta(days=7)) not in pregnancy_window(
        KEY, None, notified
    )
    assert date_tag(KEY, notified + dt.timedelta(weeks=39)) in pregnancy_window(KEY, None, notified)
    assert date_tag(KEY, notified + dt.timedelta(weeks=41)) not in pregnancy_window(
        KEY, None, notified
    )
    assert pregnancy_window(KEY, None, None) == {}


def test_expected_dates_too_close_for_one_woman_are_flagged_not_decided() -> None:
    # two women's records wrongly in one guardian group, expected 9 days apart: the
    # closer one must not silently win
    other = EDD + dt.timedelta(days=9)
    born = EDD - dt.timedelta(days=21)
    links = match_pregnancies(
        np.array([9, 9]),
        [window_offsets(KEY, EDD), window_offsets(KEY, other)],
        np.array([3]),
        np.array([9]),
        [_tags(born)],
    )
    assert links.preg_index.tolist() == [0, 1] and links.ambiguous.all()
