"""Accuracy metrics on small hand-made cases with answers worked out by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthetic.metrics import best_by_f1, score, threshold_curve

# person A in three bodies, B in two, C in one.
TRUTH = {
    ("j", "1"): "A",
    ("g", "1"): "A",
    ("h", "1"): "A",
    ("j", "2"): "B",
    ("g", "2"): "B",
    ("j", "3"): "C",
}


def test_perfect_prediction() -> None:
    s = score(dict(TRUTH), TRUTH)
    assert (s.precision, s.recall, s.f1, s.exact_match_rate) == (1.0, 1.0, 1.0, 1.0)
    assert s.true_pairs == 3 + 1


def test_split_cluster_lowers_recall_not_precision() -> None:
    pred = {**TRUTH, ("h", "1"): "other"}
    s = score(pred, TRUTH)
    assert s.true_pairs == 4 and s.predicted_pairs == 2 and s.correct_pairs == 2
    assert s.precision == 1.0 and s.recall == 0.5
    assert s.f1 == pytest.approx(2 / 3)
    assert s.exact_match_rate == pytest.approx(2 / 3)  # B and C exact, A split


def test_wrong_merge_lowers_precision() -> None:
    pred = {**TRUTH, ("j", "3"): "B"}  # C merged into B's group
    s = score(pred, TRUTH)
    # group B now j2, g2, j3: cross-body pairs j2-g2, g2-j3 (j2-j3 same body)
    assert s.predicted_pairs == 3 + 2 and s.correct_pairs == 4
    assert s.precision == pytest.approx(4 / 5) and s.recall == 1.0
    assert s.exact_match_rate == pytest.approx(1 / 3)


def test_missing_predictions_are_singletons_and_extras_ignored() -> None:
    pred = {("j", "1"): "x", ("g", "1"): "x", ("z", "9"): "x"}
    s = score(pred, TRUTH)
    assert s.predicted_pairs == 1 and s.correct_pairs == 1
    assert s.recall == pytest.approx(1 / 4)


def test_all_in_one_group() -> None:
    s = score(dict.fromkeys(TRUTH, 0), TRUTH)
    # bodies j:3, g:2, h:1 -> C(6,2) - C(3,2) - C(2,2) = 15 - 3 - 1 = 11
    assert s.predicted_pairs == 11 and s.correct_pairs == 4
    assert s.exact_match_rate == 0.0


def test_twins_merged_and_subgroup_recall() -> None:
    truth = {("j", "1"): "T1", ("g", "1"): "T1", ("j", "2"): "T2", ("g", "2"): "T2"}
    merged = {("j", "1"): 0, ("g", "1"): 1, ("j", "2"): 1, ("g", "2"): 0}
    s = score(merged, truth, twin_pairs=[("T1", "T2")], subgroups={"twins": {"T1", "T2"}})
    assert s.twins_merged == 1 and s.twin_pairs == 1
    assert s.recall == 0.0 and s.subgroup_recall == {"twins": 0.0}
    ok = score(dict(truth), truth, twin_pairs=[("T1", "T2")], subgroups={"none": set()})
    assert ok.twins_merged == 0
    assert ok.subgroup_recall == {"none": None}


def test_threshold_curve_and_best() -> None:
    def predict(t: float) -> dict:
        return dict(TRUTH) if t >= 0.5 else dict.fromkeys(TRUTH, 0)

    curve = threshold_curve(predict, TRUTH, [0.3, 0.5, 0.7])
    assert [p["threshold"] for p in curve] == [0.3, 0.5, 0.7]
    assert curve[0]["precision"] == pytest.approx(4 / 11)
    assert best_by_f1(curve)["threshold"] == 0.5


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 4), st.integers(0, 3)),
        min_size=1,
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.lists(st.integers(0, 3), min_size=30, max_size=30),
)
def test_scores_are_bounded_and_consistent(records, tokens) -> None:
    truth = {(b, str(r)): f"P{p}" for b, r, p in records}
    pred = {k: tokens[i] for i, k in enumerate(truth)}
    s = score(pred, truth)
    assert 0 <= s.precision <= 1 and 0 <= s.recall <= 1 and 0 <= s.f1 <= 1
    assert s.correct_pairs <= min(s.true_pairs, s.predicted_pairs)
    assert score(dict(truth), truth).f1 == 1.0
