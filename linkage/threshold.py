"""The run's Dice threshold, learned from its own scores without ground truth.

Shapes: candidate pairs ``(left, right, scores)`` as ``(m,)`` int64, int64, float64
arrays of global record indices with ``scores >= floor``, and ``body`` ``(n,)`` int64.

Only **mutual best** pairs enter the fit: ``x``–``y`` where ``y`` is ``x``'s best
candidate in ``y``'s body and ``x`` is ``y``'s best in ``x``'s body. These are the pairs a
one-record-per-body linkage actually has to decide on; a pair whose record has a better
partner elsewhere (a sibling beside the child's own record) is settled by the clustering
and would only swamp the fit. On their scores, rescaled to ``u = (s - floor) / (1 -
floor)``, a two-component mixture is fitted by expectation–maximisation:

* non-matches (two records that each lack a partner in the other's body): a
  Beta(``a0``, ``b0``) density fitted once, by moments, to the **runner-up** scores — every
  record's second-best candidate in each other body. A body holds at most one record per
  child, so a runner-up is a stranger: the runner-ups show what the best of the strangers
  looks like, without ground truth, and anchor the component (without them a mixture
  fitted to data that are nearly all matches, as FEBRL4's, splits the matches in two);
* matches: a Beta(``a``, ``b``) density, re-fitted by weighted moments in each M-step,
  with the mixing weight.

The threshold is the lowest score above which ``P(match | s)`` stays at or above one
half. When the match share comes out above ``ALL_MATCH`` (every mutual best pair looks
like a match, as in FEBRL4 where every record has a partner) the lowest allowed
threshold is taken. The estimate is used only within ``[fallback - BELOW, fallback +
ABOVE]`` and from at least ``MIN_PAIRS`` pairs; otherwise the schema's default (the
fallback) is used and the reason recorded. ``ABOVE`` is 0: the learned threshold may lower
the schema's default, never raise it. The pairwise decision above ignores that a group
holds one record per body (which is what keeps municipal runs precise); estimates above
the default (0.81–0.83 on both generators' seed-1 towns) cost recall and gained no
precision, so an estimate above the default is capped at the default. ``ScoreModel.posterior`` gives
``P(match | s)`` for the review ranking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_PAIRS = 100
BELOW = 0.10
ABOVE = 0.0
ALL_MATCH = 0.999
_EPS = 1e-4


@dataclass(frozen=True)
class ScoreModel:
    """The run's threshold and the fitted mixture over ``[floor, 1]``.

    Attributes:
        threshold: the Dice threshold to use (the fallback unless ``source == "em"``).
        source: ``"em"``, ``"fixed"`` or ``"fallback: <reason>"``.
        floor: lowest score compared.
        match_share: mixing weight of matches among the fitted pairs (0 when unfitted).
        a0, b0: non-match Beta parameters; ``a``, ``b``: match Beta parameters.
        pairs: number of mutual best pairs fitted.
    """

    threshold: float
    source: str
    floor: float
    match_share: float = 0.0
    a0: float = 1.0
    b0: float = 1.0
    a: float = 1.0
    b: float = 1.0
    pairs: int = 0

    def posterior(self, scores: np.ndarray) -> np.ndarray:
        """``P(match | s)`` for ``(m,)`` scores: the mixture's where it was fitted (and is
        not degenerate; also when the estimate was capped at the default, so the review
        list still knows that strangers crowd just above a low default threshold), else a
        steep logistic step at the threshold; 0 below the floor."""
        s = np.asarray(scores, np.float64)
        fitted = self.pairs > 0 and 0.0 < self.match_share < ALL_MATCH
        if not fitted or not self.source.startswith(("em", "capped", "review")):
            out = 1.0 / (1.0 + np.exp(-np.clip((s - self.threshold) / 0.01, -50, 50)))
        else:
            u = np.clip((s - self.floor) / (1.0 - self.floor), _EPS, 1 - _EPS)
            log_m, log_u = _log_densities(u, self.a0, self.b0, self.a, self.b)
            odds = math.log(self.match_share / (1 - self.match_share)) + log_m - log_u
            out = 1.0 / (1.0 + np.exp(-np.clip(odds, -50, 50)))
            if self.source == "em":
                out = np.where(s >= self.threshold, np.maximum(out, 0.5), np.minimum(out, 0.5))
        return np.where(s < self.floor, 0.0, out)

    @property
    def learned(self) -> bool:
        """The run's threshold came from its own scores: the mixture was fitted there
        (``em``, or ``capped`` at the default)."""
        return self.source.startswith(("em", "capped"))


def mutual_best(left: np.ndarray, right: np.ndarray, scores: np.ndarray, body: np.ndarray
                ) -> np.ndarray:  # fmt: skip
    """Bool mask of pairs that are each record's best candidate in the other's body."""
    m = left.size
    if m == 0:
        return np.zeros(0, bool)
    n_bodies = int(body.max()) + 1
    keep = np.ones(m, bool)
    for a, b in ((left, right), (right, left)):
        key = a * n_bodies + body[b]
        order = np.lexsort((b, -scores, key))  # ties: the lower index wins
        first = np.ones(m, bool)
        first[1:] = key[order][1:] != key[order][:-1]
        is_best = np.zeros(m, bool)
        is_best[order[first]] = True
        keep &= is_best
    return keep


def _log_beta(u: np.ndarray, a: float, b: float) -> np.ndarray:
    norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    return norm + (a - 1) * np.log(u) + (b - 1) * np.log1p(-u)


def _log_densities(u: np.ndarray, a0: float, b0: float, a: float, b: float
                   ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(log match density, log non-match density) at ``u``."""
    return _log_beta(u, a, b), _log_beta(u, a0, b0)


def _moments(u: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Beta parameters from the weighted mean and variance of ``u``."""
    total = max(float(w.sum()), 1e-12)
    mean = float((w * u).sum()) / total
    var = max(float((w * (u - mean) ** 2).sum()) / total, 1e-6)
    common = max(mean * (1 - mean) / var - 1.0, 1e-3)
    return max(mean * common, 1e-2), max((1 - mean) * common, 1e-2)


def fit_scores(scores: np.ndarray, runner_up: np.ndarray, floor: float, fallback: float, *,
               iterations: int = 500) -> ScoreModel:  # fmt: skip
    """Fit the mixture to mutual-best ``scores`` ``>= floor``, strangers shaped by the
    ``runner_up`` scores; see the module docstring."""
    s = np.asarray(scores, np.float64)
    s = s[s >= floor]
    r2 = np.asarray(runner_up, np.float64)
    r2 = r2[r2 >= floor]
    lowest = max(floor, fallback - BELOW)
    if s.size < MIN_PAIRS:
        return ScoreModel(fallback, f"fallback: {s.size} mutual best pairs < {MIN_PAIRS}",
                          floor)  # fmt: skip
    if r2.size < MIN_PAIRS // 4:
        return ScoreModel(fallback, f"fallback: {r2.size} runner-up scores", floor)
    u = np.clip((s - floor) / (1.0 - floor), _EPS, 1 - _EPS)
    u2 = np.clip((r2 - floor) / (1.0 - floor), _EPS, 1 - _EPS)
    a0, b0 = _moments(u2, np.ones(u2.size))
    pi, a, b = 0.5, 6.0, 1.0
    prev = -np.inf
    for _ in range(iterations):
        log_m, log_u = _log_densities(u, a0, b0, a, b)
        lm = math.log(pi) + log_m
        lu = math.log1p(-pi) + log_u
        top = np.maximum(lm, lu)
        ll_each = top + np.log(np.exp(lm - top) + np.exp(lu - top))
        r = np.exp(lm - ll_each)
        ll = float(ll_each.sum())
        pi = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        a, b = _moments(u, r)
        if abs(ll - prev) < 1e-10 * max(1.0, abs(ll)):
            break
        prev = ll
    model = ScoreModel(fallback, "em", floor, pi, a0, b0, a, b, int(s.size))
    if pi >= ALL_MATCH:
        return ScoreModel(_up(lowest), "em", floor, pi, a0, b0, a, b, int(s.size))
    if pi < 0.01:
        return _fallback(model, f"fallback: match share {pi:.4f}")
    if a / (a + b) <= a0 / (a0 + b0):
        return _fallback(model, "fallback: components not separated")
    crossing = _crossing(model, pi)
    if crossing is None:
        return _fallback(model, "fallback: no score is more likely a match")
    t = max(crossing, lowest)
    if t > min(fallback + ABOVE, 1.0):
        return _fallback(model, f"capped: estimate {t:.3f} above the default")
    return ScoreModel(_up(t), "em", floor, pi, a0, b0, a, b, int(s.size))


def review_model(left: np.ndarray, right: np.ndarray, scores: np.ndarray, body: np.ndarray,
                 model: ScoreModel) -> ScoreModel:  # fmt: skip
    """For a run whose threshold is not learned (fixed, or an LSH run): the same mixture
    fitted to its pairs at or above the threshold, for the review list's ``P(match | s)``
    only; the threshold stays ``model.threshold``. Without it every pair above a fixed
    threshold is a sure match to the review. The pairs are put in one canonical order
    first, so a run that holds the same pairs (a full and an incremental run of the same
    records) gets the same model. ``model`` itself where the fit is not sound."""
    keep = np.asarray(scores) >= model.threshold
    lo = np.minimum(left, right)[keep]
    hi = np.maximum(left, right)[keep]
    s = np.asarray(scores, np.float64)[keep]
    order = np.lexsort((hi, lo))
    fit = estimate_threshold(lo[order], hi[order], s[order], body, float(model.threshold),
                             float(model.threshold))  # fmt: skip
    if fit.pairs == 0 or not fit.learned:
        return model
    if not 0.0 < fit.match_share < ALL_MATCH:
        return model
    source = f"review: fitted above the {model.source} threshold"
    return ScoreModel(model.threshold, source, fit.floor, fit.match_share, fit.a0, fit.b0,
                      fit.a, fit.b, fit.pairs)  # fmt: skip


def _up(t: float) -> float:
    """``t`` rounded *up* to 4 decimals (never below the bound it was clipped to)."""
    return math.ceil(t * 1e4 - 1e-9) / 1e4


def _fallback(model: ScoreModel, reason: str) -> ScoreModel:
    return ScoreModel(model.threshold, reason, model.floor, model.match_share, model.a0,
                      model.b0, model.a, model.b, model.pairs)  # fmt: skip


def estimate_threshold(left: np.ndarray, right: np.ndarray, scores: np.ndarray,
                       body: np.ndarray, floor: float, fallback: float) -> ScoreModel:  # fmt: skip
    """Fit on the mutual best pairs among candidates ``>= floor`` (see the module)."""
    left, right, scores = np.asarray(left), np.asarray(right), np.asarray(scores)
    mask = mutual_best(left, right, scores, np.asarray(body))
    return fit_scores(scores[mask], runner_ups(left, right, scores, np.asarray(body)), floor,
                      fallback)  # fmt: skip


def estimate_from_neighbours(best_score: np.ndarray, best_partner: np.ndarray,
                             body: np.ndarray, floor: float, fallback: float) -> ScoreModel:
    """The same fit from each record's two best partners per body (``(n, n_bodies, 2)``
    scores and global partner indices, ``-1`` where absent; see ``linkage.neighbours``):
    the mutual best pairs and the runner-up scores, without a list of pairs."""
    scores, _, _ = mutual_best_neighbours(best_score, best_partner, body)
    second = best_score[:, :, 1].ravel()
    return fit_scores(scores, second[second >= floor], floor, fallback)


def mutual_best_neighbours(best_score: np.ndarray, best_partner: np.ndarray,
                           body: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, x, y)`` of the mutual best pairs ``x < y``: ``y`` is ``x``'s best in
    ``y``'s body and ``x`` is ``y``'s best in ``x``'s body."""
    n, n_bodies = best_partner.shape[:2]
    x = np.repeat(np.arange(n, dtype=np.int64), n_bodies)
    y = best_partner[:, :, 0].ravel()
    s = best_score[:, :, 0].ravel()
    ok = y > x
    x, y, s = x[ok], y[ok], s[ok]
    back = best_partner[y, body[x], 0]
    mutual = back == x
    return s[mutual], x[mutual], y[mutual]


def runner_ups(left: np.ndarray, right: np.ndarray, scores: np.ndarray, body: np.ndarray
               ) -> np.ndarray:  # fmt: skip
    """Second-best score of every record in every other body where it has two candidates."""
    if left.size == 0:
        return np.zeros(0)
    n_bodies = int(body.max()) + 1
    key = np.concatenate([left * n_bodies + body[right], right * n_bodies + body[left]])
    return _second_best(key, np.concatenate([scores, scores]))


def _second_best(key: np.ndarray, both: np.ndarray) -> np.ndarray:
    """The second-highest of ``both`` per value of ``key`` (where a key has two)."""
    if key.size == 0:
        return np.zeros(0)
    order = np.lexsort((-both, key))
    k_sorted = key[order]
    first = np.ones(k_sorted.size, bool)
    first[1:] = k_sorted[1:] != k_sorted[:-1]
    second = np.zeros(k_sorted.size, bool)
    second[1:] = first[:-1] & ~first[1:]
    return both[order][second]


@dataclass(frozen=True)
class SameBody:
    """Where two records of one deduplicating body are one child (``same_body_floor``).

    Attributes:
        floor: ``(n_bodies,)`` float64, per body the score from which two of its records
            are more likely one child; above 1 (no rule) for bodies that do not
            deduplicate.
        models: per body the score model of two of its records (the densities between
            bodies at that body's share of repeats, ``match_share``); ``None`` for bodies
            that do not deduplicate.
    """

    floor: np.ndarray
    models: tuple[ScoreModel | None, ...]

    def posterior(self, scores: np.ndarray, body: np.ndarray) -> np.ndarray:
        """``P(one child | s)`` of pairs of two records of body ``body[i]`` (``(m,)``
        each); NaN for bodies without a model."""
        out = np.full(np.shape(scores), np.nan)
        for b, m in enumerate(self.models):
            sel = body == b
            if m is not None and sel.any():
                out[sel] = m.posterior(np.asarray(scores)[sel])
        return out


def _share(scores: np.ndarray, fit: ScoreModel, start: float) -> float:
    """The mixing weight of ``fit``'s densities (fixed) that best explains ``scores``:
    expectation–maximisation over the weight alone, from ``start``."""
    pi = start
    u = np.clip((scores - fit.floor) / (1.0 - fit.floor), _EPS, 1 - _EPS)
    lm, lu = _log_densities(u, fit.a0, fit.b0, fit.a, fit.b)
    for _ in range(1000):
        odds = math.log(pi / (1 - pi)) + lm - lu
        new = float(np.clip(np.mean(1.0 / (1.0 + np.exp(-np.clip(odds, -50, 50)))),
                            1e-6, 1 - 1e-6))  # fmt: skip
        done = abs(new - pi) < 1e-9
        pi = new
        if done:
            break
    return pi


def _crossing(fit: ScoreModel, pi: float) -> float | None:
    """The lowest score above which a match is the more likely component of ``fit``'s
    densities at weight ``pi`` (on a grid of 2 001 points from ``fit.floor`` to 1);
    ``None`` where no score is."""
    grid = np.linspace(fit.floor, 1.0, 2001)
    u_grid = np.clip((grid - fit.floor) / (1.0 - fit.floor), _EPS, 1 - _EPS)
    log_m, log_u = _log_densities(u_grid, fit.a0, fit.b0, fit.a, fit.b)
    above = math.log(pi) + log_m >= math.log1p(-pi) + log_u
    if not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return float(grid[below[-1] + 1]) if below.size else float(grid[0])


def same_body_floor(left: np.ndarray, right: np.ndarray, scores: np.ndarray,
                    body: np.ndarray, dedup: np.ndarray, model: ScoreModel,
                    ) -> SameBody | None:  # fmt: skip
    """Per deduplicating body, the score from which two of its records are more likely
    one person than two, and the model that weighs such pairs; ``None`` where the run
    cannot say.

    A child's records score alike wherever they come from, and so do siblings, so the
    mixture's *densities* are fitted to the pairs between bodies (mutual best pairs and
    runner-ups at or above ``model.threshold``, the pairs every kind of run holds, full or
    incremental, learned threshold or fixed; runner-ups only in bodies that keep one
    record per child where the run has one, since in a deduplicating body a record's
    runner-up is often its person's other copy). The *share* of matches is not alike: a
    body that may repeat a child holds few repeats and many siblings, who share a surname,
    an address and parents and score above a municipal threshold. So each deduplicating
    body's mixing weight is re-estimated, by expectation–maximisation with those densities
    fixed, on the mutual best pairs *within* it at or above the threshold (a body with
    fewer than ``MIN_PAIRS // 4`` of them takes the weight of all deduplicating bodies'
    pairs together, or the weight between bodies). A body's floor is the lowest score
    above which a match is the more likely component at its weight (1.0 where none is),
    never below ``model.threshold``.

    ``None`` where no body deduplicates, where the pairs come from a single body (the
    densities would be fitted to the very pairs in question: FEBRL3), or where the pairs
    between bodies do not fit a mixture (``match_share`` 0 or at least ``ALL_MATCH``).
    """
    dd = np.asarray(dedup, bool)
    if not dd.any():  # every run without deduplication: nothing more to do
        return None
    body = np.asarray(body)
    present = np.unique(body)
    if present.size < 2:
        return None
    # The pairs at or above the threshold, in one canonical order, so that runs holding
    # the same pairs in another order (a Dask run, an incremental one) get the same model
    # to the last bit.
    t_run = float(model.threshold)
    s = np.asarray(scores, np.float64)
    keep = s >= t_run
    lo = np.minimum(left, right)[keep]
    hi = np.maximum(left, right)[keep]
    order = np.lexsort((hi, lo))
    left, right, s = lo[order], hi[order], s[keep][order]
    cross = body[left] != body[right]
    cl, cr, cs = left[cross], right[cross], s[cross]
    n_bodies = int(body.max()) + 1
    single = ~dd if (~dd[present]).any() else np.ones(dd.size, bool)
    to_right = single[body[cr]]
    to_left = single[body[cl]]
    key = np.concatenate([cl[to_right] * n_bodies + body[cr[to_right]],
                          cr[to_left] * n_bodies + body[cl[to_left]]])  # fmt: skip
    both = np.concatenate([cs[to_right], cs[to_left]])
    fit = fit_scores(cs[mutual_best(cl, cr, cs, body)], _second_best(key, both), t_run, t_run)
    if not (fit.pairs > 0 and 0.0 < fit.match_share < ALL_MATCH):
        return None
    within = (body[left] == body[right]) & dd[body[left]]
    best = mutual_best(left[within], right[within], s[within], body)
    sw, bw = s[within][best], body[left[within][best]]
    pooled = _share(sw, fit, fit.match_share) if sw.size >= MIN_PAIRS // 4 else fit.match_share
    floors = np.full(dd.size, 2.0)
    models: list[ScoreModel | None] = [None] * dd.size
    for b in np.flatnonzero(dd):
        own = sw[bw == b]
        pi = _share(own, fit, pooled) if own.size >= MIN_PAIRS // 4 else pooled
        crossing = _crossing(fit, pi)
        floors[b] = 1.0 if crossing is None else max(_up(crossing), t_run)
        models[b] = ScoreModel(t_run, "review: within one body", fit.floor, pi, fit.a0,
                               fit.b0, fit.a, fit.b, fit.pairs)  # fmt: skip
    return SameBody(floors, tuple(models))
