"""Known links and non-links from review outcomes: clustering constraints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.clustering import cluster
from linkage.errors import LinkageError
from linkage.outcomes import ReviewOutcome, constraints


def _pairs(edges: list[tuple[int, int, float]]):
    left, right, scores = zip(*edges, strict=True) if edges else ((), (), ())
    return np.array(left, np.int64), np.array(right, np.int64), np.array(scores, float)


TWINS = _pairs([(0, 2, 0.95), (0, 3, 0.93), (1, 3, 0.96), (1, 2, 0.92)])
TWIN_BODIES = np.array([0, 0, 1, 1])


def _ix(*pairs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(pairs, np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def test_answered_twins_are_linked_as_told_and_not_flagged_again() -> None:
    flagged = cluster(4, *TWINS, TWIN_BODIES, review_margin=0.05)
    assert flagged.review.all() and flagged.n_groups == 4
    # the bodies checked: record 0 is record 3's child, 1 is 2's (against the scores' order)
    c = cluster(
        4, *TWINS, TWIN_BODIES, review_margin=0.05,
        must_link=_ix((0, 3), (1, 2)), decided=np.ones(4, bool),
    )  # fmt: skip
    assert c.group_of[0] == c.group_of[3] != c.group_of[1] == c.group_of[2]
    assert not c.review.any() and c.conflicts == 0


def test_cannot_link_keeps_a_high_scoring_pair_apart() -> None:
    body = np.array([0, 1, 2])
    edges = _pairs([(0, 1, 0.99), (1, 2, 0.9)])
    assert cluster(3, *edges, body).n_groups == 1
    c = cluster(3, *edges, body, cannot_link=_ix((0, 1)))
    assert c.group_of[0] != c.group_of[1]
    # 2 may still join one of them; 0 and 1 never meet through it
    c2 = cluster(3, *_pairs([(0, 2, 0.99), (1, 2, 0.98)]), body, cannot_link=_ix((0, 1)))
    assert c2.group_of[0] == c2.group_of[2] != c2.group_of[1]


def test_a_rival_people_kept_apart_leaves_no_near_tie() -> None:
    # Record 0 scores almost equally with 1 and 2 (one body): a near-tie, left open.
    body = np.array([0, 1, 1])
    edges = _pairs([(0, 1, 0.95), (0, 2, 0.94)])
    tie = cluster(3, *edges, body, review_margin=0.05)
    assert tie.n_groups == 3 and tie.review.all()
    # The coordinator recorded that 0 and 2 are different children: 2 is no rival, so 0
    # joins 1 and nothing is asked again.
    c = cluster(3, *edges, body, review_margin=0.05, cannot_link=_ix((0, 2)),
                decided=np.array([True, False, True]))  # fmt: skip
    assert c.group_of[0] == c.group_of[1] != c.group_of[2]
    assert not c.review.any() and c.ambiguous == 0
    # The same from the other side of the pair (1 holds the tie).
    c = cluster(3, *_pairs([(1, 0, 0.95), (2, 0, 0.94)]), np.array([1, 0, 0]),
                review_margin=0.05, cannot_link=_ix((2, 0)))  # fmt: skip
    assert c.group_of[0] == c.group_of[1] != c.group_of[2] and c.ambiguous == 0


def test_contradicting_must_link_is_counted_not_applied() -> None:
    body = np.array([0, 0, 1])
    c = cluster(3, *_pairs([]), body, must_link=_ix((0, 2), (1, 2)))
    assert c.conflicts == 1 and c.group_of[0] == c.group_of[2] != c.group_of[1]
    c = cluster(3, *_pairs([]), np.array([0, 1, 2]), must_link=_ix((0, 1)),
                cannot_link=_ix((0, 1)))  # fmt: skip
    assert c.conflicts == 1 and c.n_groups == 3


def test_constraint_indices_are_checked() -> None:
    with pytest.raises(LinkageError, match="must_link"):
        cluster(2, *_pairs([]), np.array([0, 1]), must_link=_ix((0, 5)))
    with pytest.raises(LinkageError, match="decided"):
        cluster(2, *_pairs([]), np.array([0, 1]), decided=np.ones(3, bool))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(3, 9).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.floats(0.5, 1.0)),
                max_size=20,
            ),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4),
        )
    )
)
def test_constraints_always_hold(case) -> None:
    n, bodies, edges, must, cannot = case
    edges = [(a, b, s) for a, b, s in edges if a != b]
    cannot = [(a, b) for a, b in cannot if a != b]
    body = np.array(bodies, np.int64)
    c = cluster(n, *_pairs(edges), body, must_link=_ix(*must) if must else None,
                cannot_link=_ix(*cannot) if cannot else None, review_margin=0.02)  # fmt: skip
    g = c.group_of
    for a, b in cannot:  # known non-links are never together
        assert g[a] != g[b]
    for grp in np.unique(g):  # still at most one record per body
        members = body[g == grp]
        assert len(members) == len(set(members.tolist()))
    applied = sum(1 for a, b in must if g[a] == g[b])
    assert applied + c.conflicts >= len(must)


def test_outcomes_newest_answer_wins_and_unknown_refs_are_ignored() -> None:
    index = {("A", "a1"): 0, ("A", "a2"): 1, ("B", "b1"): 2}
    old = ReviewOutcome("confirmed", ((("A", "a1"), ("B", "b1")),))
    new = ReviewOutcome("split", ((("A", "a1"),), (("B", "b1"), ("C", "gone"))))
    c = constraints([old, new], index, 3)
    assert c.must_link[0].size == 0
    assert sorted(zip(*c.cannot_link, strict=True)) == [(0, 2)]
    assert c.decided.tolist() == [True, False, True]
    c = constraints([new, old], index, 3)
    assert list(zip(*c.must_link, strict=True)) == [(0, 2)] and c.cannot_link[0].size == 0
    unsure = ReviewOutcome("unsure", ((("A", "a1"), ("B", "b1")),))
    c = constraints([old, unsure], index, 3)
    assert c.must_link[0].size == 0 and not c.decided.any()


def test_outcome_shape_is_checked() -> None:
    with pytest.raises(LinkageError, match="two parts"):
        ReviewOutcome("split", ((("A", "a"),),))
    with pytest.raises(LinkageError, match="twice"):
        ReviewOutcome("confirmed", ((("A", "a"), ("A", "a")),))
