"""The learned threshold: EM on mutual-best scores, runner-ups as the strangers' shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.threshold import (
    ABOVE,
    BELOW,
    ScoreModel,
    estimate_threshold,
    fit_scores,
    mutual_best,
    runner_ups,
    same_body_floor,
)


def _scores(rng, n_match, n_non, floor=0.7):
    span = 1 - floor
    match = floor + span * rng.beta(6, 1, n_match)
    non = floor + span * rng.beta(2, 10, n_non)
    runner = floor + span * rng.beta(2, 10, 3 * n_non + 50)
    return match, non, runner


def test_recovers_the_crossing_of_two_components() -> None:
    rng = np.random.default_rng(0)
    match, non, runner = _scores(rng, 3000, 3000)
    model = fit_scores(np.concatenate([match, non]), runner, 0.7, 0.9)
    assert model.source == "em"
    grid = np.linspace(0.7, 1.0, 3001)
    u = (grid - 0.7) / 0.3
    dm = u**5 * 6  # Beta(6, 1)
    dn = u * (1 - u) ** 9 * 110  # Beta(2, 10)
    crossing = grid[np.flatnonzero(dm < dn)[-1] + 1]  # match more likely from here up
    assert abs(model.threshold - max(crossing, 0.9 - BELOW)) < 0.03
    post = model.posterior(np.array([0.65, 0.72, 0.99]))
    assert post[0] == 0.0 and post[1] < 0.5 < post[2]


def test_all_matches_take_the_lowest_allowed_threshold() -> None:
    rng = np.random.default_rng(1)
    match, _, runner = _scores(rng, 2000, 0)
    model = fit_scores(match, runner, 0.7, 0.8)
    assert model.source == "em" and model.threshold == pytest.approx(0.8 - BELOW)


def test_an_estimate_above_the_default_is_capped() -> None:
    rng = np.random.default_rng(0)
    match, non, runner = _scores(rng, 3000, 3000)
    model = fit_scores(np.concatenate([match, non]), runner, 0.7, 0.8)  # crossing ~0.835
    assert model.threshold == 0.8 and model.source.startswith("capped")


def test_too_few_pairs_fall_back() -> None:
    model = fit_scores(np.array([0.9, 0.95]), np.array([0.75] * 50), 0.7, 0.8)
    assert model.threshold == 0.8 and model.source.startswith("fallback")
    assert model.posterior(np.array([0.79]))[0] < 0.5 < model.posterior(np.array([0.81]))[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 3000), st.integers(0, 3000),
       st.floats(0.6, 0.95))  # fmt: skip
def test_threshold_stays_in_its_range_or_falls_back(seed, n_match, n_non, fallback) -> None:
    rng = np.random.default_rng(seed)
    floor = fallback - BELOW
    match, non, runner = _scores(rng, n_match, n_non, floor)
    model = fit_scores(np.concatenate([match, non]), runner, floor, fallback)
    if model.source == "em":
        assert fallback - BELOW - 1e-9 <= model.threshold <= fallback + ABOVE + 1e-9
    else:
        assert model.threshold == fallback


def test_mutual_best_and_runner_ups() -> None:
    # body 0: records 0, 1; body 1: records 2, 3.
    body = np.array([0, 0, 1, 1])
    left = np.array([0, 0, 1, 1])
    right = np.array([2, 3, 2, 3])
    scores = np.array([0.95, 0.80, 0.85, 0.90])
    assert mutual_best(left, right, scores, body).tolist() == [True, False, False, True]
    assert sorted(runner_ups(left, right, scores, body).tolist()) == [0.8, 0.8, 0.85, 0.85]
    model = estimate_threshold(left, right, scores, body, 0.7, 0.8)
    assert model.threshold == 0.8  # too few pairs: the fallback


def _fixed_run_pairs(rng: np.random.Generator, n: int = 600, t: float = 0.6):
    """Pairs at or above a fixed threshold ``t`` between two bodies of ``n`` records:
    record i of body 0 matches record n+i of body 1 for the first two thirds (scores
    high), every record also has strangers just above ``t`` (siblings, neighbours)."""
    left, right, scores = [], [], []
    for i in range(n):
        if i < 2 * n // 3:
            left.append(i)
            right.append(n + i)
            scores.append(t + (1 - t) * rng.beta(8, 1.5))
        for j in rng.choice(n, 2, replace=False):
            if j != i:
                left.append(i)
                right.append(n + int(j))
                scores.append(t + (1 - t) * rng.beta(1.5, 12))
    body = np.repeat(np.array([0, 1]), n)
    return np.array(left), np.array(right), np.array(scores), body


def test_a_fixed_runs_review_model_is_fitted_above_its_threshold() -> None:
    from linkage.threshold import ScoreModel, review_model

    rng = np.random.default_rng(3)
    left, right, scores, body = _fixed_run_pairs(rng)
    step = ScoreModel(0.6, "fixed", 0.6)
    fitted = review_model(left, right, scores, body, step)
    assert fitted.source.startswith("review") and fitted.threshold == 0.6
    # The step calls a stranger just above the threshold a sure match; the fitted model
    # knows strangers crowd there, and still calls a high score a match.
    assert step.posterior(np.array([0.63]))[0] > 0.9
    assert fitted.posterior(np.array([0.63]))[0] < 0.5
    assert fitted.posterior(np.array([0.95]))[0] > 0.9
    # The same pairs in another order (and either way round) give the same model.
    perm = rng.permutation(left.size)
    swap = rng.random(left.size) < 0.5
    l2 = np.where(swap, right, left)[perm]
    r2 = np.where(swap, left, right)[perm]
    assert review_model(l2, r2, scores[perm], body, step) == fitted
    # Too few pairs: the given model is kept.
    assert review_model(left[:50], right[:50], scores[:50], body, step) == step


def _within_body_pairs(rng, n_repeat, n_sibling, floor=0.7, first=0):
    """Pairs of records ``first ..`` of body 0 (each record in one pair, so every pair is
    mutual best): ``n_repeat`` repeats scoring like matches, ``n_sibling`` like strangers."""
    span = 1 - floor
    s = np.concatenate([floor + span * rng.beta(6, 1, n_repeat),
                        floor + span * rng.beta(2, 10, n_sibling)])  # fmt: skip
    k = s.size
    return np.arange(first, first + 2 * k, 2), np.arange(first + 1, first + 2 * k, 2), s


def _run(rng, n_repeat, n_sibling):
    """A run's pairs: 3 000 matches and 3 000 strangers between bodies 1 and 2 (each
    record in one pair, runner-ups from a third record per pair), and the given pairs
    within body 0. Threshold 0.7."""
    match, non, runner = _scores(rng, 3000, 3000)
    between = np.concatenate([match, non])
    k = between.size
    # records 0 .. 3k-1 in bodies 1, 2, 2: x–y the pair, x–z the runner-up (below it)
    x = np.arange(0, 3 * k, 3)
    y, z = x + 1, x + 2
    runner_s = np.minimum(runner[:k], between - 1e-6)
    wl, wr, ws = _within_body_pairs(rng, n_repeat, n_sibling, first=3 * k)
    left = np.concatenate([x, x, wl])
    right = np.concatenate([y, z, wr])
    scores = np.concatenate([between, runner_s, ws])
    body = np.concatenate([np.tile([1, 2, 2], k), np.zeros(wr.max() + 1 - 3 * k, np.int64)])
    keep = scores >= 0.7
    return left[keep], right[keep], scores[keep], body


def test_one_body_repeats_are_weighed_at_that_bodys_own_share() -> None:
    rng = np.random.default_rng(3)
    model = ScoreModel(0.7, "fixed", 0.7)
    dedup = np.array([True, False, False])
    # Body 0 deduplicates: 40 repeats among 1 000 sibling-like pairs.
    left, right, scores, body = _run(rng, 40, 1000)
    out = same_body_floor(left, right, scores, body, dedup, model)
    assert out is not None
    floor, within = out.floor[0], out.models[0]
    assert within is not None and out.models[1:] == (None, None)
    assert out.floor[1] > 1 and out.floor[2] > 1  # no rule for the other bodies
    assert within.match_share == pytest.approx(40 / 1040, abs=0.02)
    assert within.source == "review: within one body"
    # The floor is where the within-body model's P(match | s) reaches one half. Between
    # bodies half the pairs are matches; within this body few are, so the same densities
    # say "one person" only higher up.
    grid = np.linspace(0.7, 1.0, 3001)
    assert floor == pytest.approx(grid[np.flatnonzero(within.posterior(grid) < 0.5)[-1] + 1],
                                  abs=2e-3)  # fmt: skip
    shared = ScoreModel(0.7, "review: between bodies", within.floor, 0.5, within.a0,
                        within.b0, within.a, within.b, within.pairs)  # fmt: skip
    assert floor > grid[np.flatnonzero(shared.posterior(grid) < 0.5)[-1] + 1] + 0.03
    # Many repeats: the floor comes down, never below the run's threshold.
    left2, right2, scores2, body2 = _run(rng, 1000, 200)
    out2 = same_body_floor(left2, right2, scores2, body2, dedup, model)
    floor2, within2 = out2.floor[0], out2.models[0]
    assert within2.match_share > 0.7 and model.threshold <= floor2 < floor
    np.testing.assert_array_equal(out2.posterior(np.array([0.9, 0.9]), np.array([0, 1]))[1:],
                                  [np.nan])  # fmt: skip


def test_no_same_body_floor_without_a_fit_between_bodies() -> None:
    rng = np.random.default_rng(4)
    model = ScoreModel(0.7, "fixed", 0.7)
    left, right, scores, body = _run(rng, 40, 1000)
    # No body deduplicates.
    assert same_body_floor(left, right, scores, body, np.array([False] * 3), model) is None
    # The run holds one body only (FEBRL3: the densities would be fitted to these pairs).
    wl, wr, ws = _within_body_pairs(rng, 40, 1000)
    one = np.zeros(wr.max() + 1, np.int64)
    assert same_body_floor(wl, wr, ws, one, np.array([True]), model) is None
    # Between bodies too few pairs to fit a mixture.
    few = (body[left] == 0) | (np.arange(left.size) < 20)
    assert same_body_floor(left[few], right[few], scores[few], body,
                           np.array([True, False, False]), model) is None  # fmt: skip
    # Too few pairs within the body: the share between bodies is kept.
    inside = np.flatnonzero(body[left] == 0)
    some = np.ones(left.size, bool)
    some[inside[5:]] = False
    out = same_body_floor(left[some], right[some], scores[some], body,
                          np.array([True, False, False]), model)  # fmt: skip
    within = out.models[0]
    assert within.match_share == pytest.approx(0.5, abs=0.05) and out.floor[0] >= 0.7


def test_each_deduplicating_body_gets_its_own_share_of_repeats() -> None:
    # Bodies 0 and 3 deduplicate: body 0 holds many repeats, body 3 few.
    rng = np.random.default_rng(7)
    model = ScoreModel(0.7, "fixed", 0.7)
    left, right, scores, body = _run(rng, 300, 300)
    wl, wr, ws = _within_body_pairs(rng, 20, 1000, first=body.size)
    body = np.concatenate([body, np.full(wr.max() + 1 - body.size, 3)])
    keep = ws >= 0.7
    left = np.concatenate([left, wl[keep]])
    right = np.concatenate([right, wr[keep]])
    scores = np.concatenate([scores, ws[keep]])
    out = same_body_floor(left, right, scores, body, np.array([True, False, False, True]),
                          model)  # fmt: skip
    assert out.models[0].match_share == pytest.approx(0.5, abs=0.05)
    assert out.models[3].match_share == pytest.approx(20 / 1020, abs=0.02)
    assert out.floor[3] > out.floor[0] >= 0.7
