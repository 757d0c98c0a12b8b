"""Linkage engine entry point: datasets of CLKs in, groups out.

Stages (each in its own module, timed in ``LinkResult.stats``):

1. ``packed`` — container rows to ``uint64`` words plus popcounts;
2. candidates — with ``blocking="auto"`` (default) every pair is compared
   (``similarity.dice_pairs`` on every pair of bodies) when that is affordable (at most
   ``EXHAUSTIVE_BUDGET`` pairs: municipal size), else ``blocking.lsh_candidates``; both
   give exact Dice scores for every reported pair ``>= threshold``. When the threshold is
   learned (default), the exhaustive pass uses ``neighbours.dice_best``, which also keeps
   every record's two best partners per body down to the floor (``threshold - 0.10``)
   as it goes;
3. ``threshold.estimate_from_neighbours`` — with ``threshold_from_data=True`` (default),
   the run's threshold from its own mutual-best and runner-up scores (EM on a
   two-component mixture, no ground truth) within ``[threshold - 0.10, threshold]``, the
   given threshold as fallback; a lower estimate costs one more pass for the pairs in
   between. The fitted mixture also gives the review list ``P(match | s)``; the two best
   partners below the threshold join the pairs it sees. The earlier way (per-record
   top-k over every pair down to the floor) cost 74 s against 1.1 s at 21 k records on
   the hardened default; this one costs about 1.2–1.7 times the plain pass (see
   docs/benchmarks.md). LSH runs keep the given threshold;
4. ``clustering.cluster`` — greedy over pairs ``>= threshold``, at most one record per
   body per group unless the body asked for deduplication, near-ties not merged;
5. ``review.review_groups`` — every group's risk of being wrong, the flagged groups
   ranked.

Stages 4–5 (with ``clustering.reassign_beaten``, the twin move, between them) are
``decide``, which ``linkage.delta.link_delta`` calls too, so full and incremental runs
share them. Stage 2 may run elsewhere (``candidates=``, a ``CandidateStage``; e.g. on
Dask, ``linkage.distributed``), learning included.

Tokens are assigned separately (``linkage.tokens`` / ``linkage.incremental``).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from linkage.blocking import BlockingConfig, lsh_candidates
from linkage.clustering import ALIKE_FROM, cluster, reassign_beaten
from linkage.errors import LinkageError
from linkage.neighbours import dice_best
from linkage.packed import PackedClks, pack
from linkage.review import BEATEN_BY, review_groups
from linkage.similarity import dice_pairs
from linkage.threshold import (
    BELOW,
    ScoreModel,
    estimate_from_neighbours,
    review_model,
    same_body_floor,
)

MAX_BODIES = 10
_Best = tuple[np.ndarray, np.ndarray]
DEFAULT_REVIEW_MARGIN = 0.03
EXHAUSTIVE_BUDGET = 4e9
"""``blocking="auto"`` compares every pair up to this many (a few seconds per 10⁹ on two
cores with the popcount bound); above it, LSH."""


@dataclass(frozen=True)
class LinkResult:
    """Groups found by a linkage run.

    Attributes:
        group_of: one int64 array per dataset, shape ``(n_d,)``: the group index of each
            record. Every record has a group; singletons get a group of their own.
        n_groups: number of groups; group indices run ``0 .. n_groups - 1``.
        review: bool array of shape ``(n_groups,)``: True where a person should look at
            the group (its risk of being wrong reached ``review.FLAG_AT``; a merge refused
            as a near-tie counts as evidence, see ``linkage.review``).
        review_risk: float64 ``(n_groups,)``: each group's risk of being wrong (0–1).
        review_order: int64 indices of the flagged groups, most likely wrong first.
        threshold: the Dice threshold this run used; ``threshold_source`` says whether
            it was learned (``"em"``), given (``"fixed"``) or the fallback (and why).
        stats: counters for the run: ``candidate_pairs`` (pairs at or above the
            threshold), ``floor_pairs`` (pairs compared and kept at or above the floor),
            ``comparisons`` (pairs whose bits were compared), ``merges``, ``reassigned``
            (records moved by ``clustering.reassign_beaten``), ``ambiguous_pairs``,
            ``review_groups``, ``constraint_conflicts``, ``threshold``,
            ``threshold_learned``, ``exhaustive``, ``dask_tasks``/``dask_threads`` (on Dask),
            ``skipped_buckets``, ``bands``, ``bits_per_band`` and ``seconds_pack``,
            ``seconds_candidates``, ``seconds_threshold``, ``seconds_cluster``,
            ``seconds_review``, ``seconds_total``.
        pairs: the run's scored candidate pairs ``(left, right, scores)``, ``(m,)`` int64,
            int64, float64 in global record indices (datasets concatenated), every pair
            at or above the run's floor; ``linkage.delta`` keeps those at or above the
            threshold so that the next run need not compare them again.
    """

    group_of: list[np.ndarray]
    n_groups: int
    review: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)
    review_risk: np.ndarray = field(default_factory=lambda: np.zeros(0))
    review_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    threshold: float = 0.0
    threshold_source: str = "fixed"
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class CandidateStage(Protocol):
    """A replacement for stage 2 (e.g. ``linkage.distributed.ClusterCandidates``).

    Called with the packed datasets, the ``(n_bodies,)`` dedup flags, the Dice
    threshold, the blocking (``None`` = every pair) and ``floor`` (``None``, or, when the
    threshold is learned, the floor down to which every record's two best partners per
    body are kept, as ``_exhaustive`` does with ``neighbours.dice_best``). Must return
    exactly what the in-process stage finds: ``(left, right, scores, comparisons, best,
    stats)``: the pairs ``>= threshold`` with global indices and ``left < right`` (any
    order), ``best`` = ``(score, partner)`` ``(n, n_bodies, 2)`` (global partner indices,
    ``-1`` where absent) when ``floor`` is given else ``None``, and extra counters for
    ``LinkResult.stats``.
    """

    def __call__(
        self,
        packed: list[PackedClks],
        dedup: np.ndarray,
        threshold: float,
        config: BlockingConfig | None,
        floor: float | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, _Best | None, dict[str, float]]: ...


def _validate(datasets: Sequence[np.ndarray], threshold: float, single_ok: bool) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise LinkageError(f"threshold must be a number, got {type(threshold).__name__}")
    if not 0 < threshold <= 1:
        raise LinkageError(f"threshold {threshold} is outside (0, 1]")
    if len(datasets) < 2 and not (single_ok and len(datasets) == 1):
        raise LinkageError(
            "linkage needs at least two datasets (bodies), or one with deduplication"
        )
    if len(datasets) > MAX_BODIES:
        raise LinkageError(f"at most {MAX_BODIES} datasets (bodies) can be linked at once")
    if any(not isinstance(d, np.ndarray) or d.ndim != 2 or d.dtype != np.uint8 for d in datasets):
        raise LinkageError("each dataset must be a 2-D uint8 array of CLK bytes")
    widths = {d.shape[1] for d in datasets}
    if len(widths) != 1:
        raise LinkageError(
            f"CLK lengths differ between datasets: {sorted(w * 8 for w in widths)} bits"
        )
    if any(d.shape[0] == 0 for d in datasets):
        empty = [i for i, d in enumerate(datasets) if d.shape[0] == 0]
        raise LinkageError(f"dataset(s) {empty} are empty")
    width = widths.pop()
    if width == 0 or width % 8:
        raise LinkageError(f"CLK length {width * 8} bits is not a positive multiple of 64")
    return width * 8


def _blocking_config(blocking: str | BlockingConfig | None, all_pairs: int
                     ) -> BlockingConfig | None:  # fmt: skip
    """``None`` for exhaustive comparison, else the LSH configuration."""
    if isinstance(blocking, BlockingConfig):
        return blocking
    if blocking is None or blocking == "auto":
        return None if all_pairs <= EXHAUSTIVE_BUDGET else BlockingConfig()
    if blocking in ("default", "lsh"):
        return BlockingConfig()
    if blocking == "exhaustive":
        return None
    raise LinkageError(
        f"unknown blocking {blocking!r}: use 'auto', 'lsh' ('default') or 'exhaustive'"
    )


def _exhaustive(
    packed: list[PackedClks], offsets: np.ndarray, dedup: np.ndarray, threshold: float,
    workers: int | None, floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, _Best | None]:  # fmt: skip
    """Every pair of records compared; the pairs ``>= threshold``. With ``floor``, the
    same pass also keeps every record's two best partners ``>= floor`` in each body
    (``linkage.neighbours``): ``(score, partner)``, ``(n, n_bodies, 2)``, global indices,
    ``-1`` where absent."""
    lefts, rights, scores = [], [], []
    comparisons = 0
    n = int(offsets[-1]) + len(packed[-1])
    best = None
    if floor is not None:
        best = (np.full((n, len(packed), 2), -1.0), np.full((n, len(packed), 2), -1, np.int64))
    for a in range(len(packed)):
        for b in range(a, len(packed)):
            if a == b and not dedup[a]:
                continue
            other = None if a == b else packed[b]
            if best is None:
                res = dice_pairs(packed[a], other, threshold, workers=workers, sort=False)
            else:
                res, near_a, near_b = dice_best(packed[a], other, threshold, floor,
                                                workers=workers)  # fmt: skip
                for x, y, near in ((a, b, near_a), (b, a, near_b)):
                    rows = slice(int(offsets[x]), int(offsets[x]) + len(packed[x]))
                    best[0][rows, y] = near.score
                    best[1][rows, y] = np.where(near.partner >= 0, near.partner + offsets[y], -1)
            lefts.append(res.left + offsets[a])
            rights.append(res.right + offsets[b])
            scores.append(res.scores)
            comparisons += res.comparisons
    empty = np.zeros(0, np.int64)
    left = np.concatenate(lefts or [empty])
    right = np.concatenate(rights or [empty])
    return left, right, np.concatenate(scores or [np.zeros(0)]), comparisons, best


def _concat(packed: list[PackedClks]) -> PackedClks:
    """All bodies' packed CLKs in global index order."""
    if len(packed) == 1:
        return packed[0]
    return PackedClks(np.concatenate([p.words for p in packed]),
                      np.concatenate([p.popcounts for p in packed]),
                      packed[0].bit_length)  # fmt: skip


def _near_pairs(best: tuple[np.ndarray, np.ndarray], below: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The pairs of each record with its two best partners per body scoring ``< below``
    (those at or above it are reported already), each pair once."""
    score, partner = best
    n = score.shape[0]
    x = np.repeat(np.arange(n, dtype=np.int64), score.shape[1] * 2)
    y, s = partner.ravel(), score.ravel()
    keep = (y >= 0) & (s < below)
    lo, hi, s = np.minimum(x, y)[keep], np.maximum(x, y)[keep], s[keep]
    _, first = np.unique(lo * n + hi, return_index=True)
    return lo[first], hi[first], s[first]


def link(
    datasets: Sequence[np.ndarray],
    *,
    threshold: float,
    threshold_from_data: bool = True,
    blocking: str | BlockingConfig | None = "auto",
    dedup: Sequence[bool] | None = None,
    review_margin: float = DEFAULT_REVIEW_MARGIN,
    workers: int | None = None,
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    decided: np.ndarray | None = None,
    candidates: CandidateStage | None = None,
) -> LinkResult:
    """Link CLKs across datasets, at most one record per dataset in a group.

    Args:
        datasets: one ``(n_d, bit_length/8)`` uint8 array per body (2 to 10 bodies; one
            is enough when it asks for deduplication).
        threshold: Dice threshold in (0, 1]: the schema's default. With
            ``threshold_from_data`` it is the fallback when the run's own scores do not
            give a sound estimate (see ``linkage.threshold``) and the estimate is kept
            within ``[threshold - 0.10, threshold]`` (it only ever lowers it).
        threshold_from_data: learn the threshold from this run's scores (default; see
            the module docstring); only runs compared exhaustively learn it, LSH runs
            keep ``threshold``.
        blocking: ``"auto"`` (default: every pair when at most ``EXHAUSTIVE_BUDGET``
            pairs, else LSH), ``"exhaustive"``, ``"lsh"`` (``"default"`` is an old name
            for it) or a ``BlockingConfig``; ``None`` means ``"auto"``.
        dedup: per dataset, True lets that body's own records share a group
            (within-body deduplication); default all False.
        review_margin: two rival candidates scoring within this margin make a pair
            ambiguous: it is not merged and its groups get ``review=True``; 0 disables.
        workers: threads for comparison (default: the CPUs this process may use).
        must_link, cannot_link, decided: known answers from people's review, in global
            record indices (datasets concatenated in order); see ``clustering.cluster``.
        candidates: run stage 2 elsewhere (e.g. on a Dask cluster, see
            ``linkage.distributed``); default in this process. Everything else is the same.

    Raises:
        LinkageError: on mismatched CLK lengths, empty datasets, no dataset (or one
            without deduplication), more than ten datasets, a threshold outside (0, 1]
            or other invalid arguments.
    """
    t0 = time.perf_counter()
    if dedup is not None and len(dedup) != len(datasets):
        raise LinkageError(f"dedup has {len(dedup)} entries for {len(datasets)} datasets")
    dedup_arr = np.asarray([bool(x) for x in (dedup or [False] * len(datasets))], bool)
    _validate(datasets, threshold, single_ok=bool(dedup_arr.all()))
    if not 0 <= review_margin < 1:
        raise LinkageError(f"review_margin {review_margin} is outside [0, 1)")
    if workers is not None and workers < 1:
        raise LinkageError(f"workers must be at least 1, got {workers}")

    packed = [pack(d) for d in datasets]
    sizes = np.array([len(p) for p in packed], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    body = np.repeat(np.arange(len(packed), dtype=np.int64), sizes)
    all_pairs = sum(
        int(sizes[a]) * int(sizes[b]) for a in range(len(sizes)) for b in range(a + 1, len(sizes))
    ) + sum(int(s) * (int(s) - 1) // 2 for s, d in zip(sizes, dedup_arr, strict=True) if d)
    config = _blocking_config(blocking, all_pairs)
    # The estimate needs every record's best partners below the threshold: the
    # exhaustive pass keeps them as it goes (``linkage.neighbours``). LSH runs (above the
    # budget) keep the given threshold, so large runs cost what they did.
    learn = threshold_from_data and config is None
    floor = max(0.05, threshold - BELOW) if learn else float(threshold)
    t1 = time.perf_counter()

    stats: dict[str, float] = {}
    all_clks: PackedClks | None = None
    if candidates is not None:
        left, right, scores, comparisons, best, extra = candidates(
            packed, dedup_arr, float(threshold), config, floor if learn else None
        )
        stats.update(extra)
    elif config is None:
        left, right, scores, comparisons, best = _exhaustive(
            packed, offsets, dedup_arr, float(threshold), workers, floor if learn else None
        )
    else:
        allc = PackedClks(
            np.concatenate([p.words for p in packed]),
            np.concatenate([p.popcounts for p in packed]),
            packed[0].bit_length,
        )
        del packed  # allc holds the same words: the per-body copies go before blocking
        all_clks = allc
        blocked = lsh_candidates(allc, body, dedup_arr, floor, config, workers=workers)
        left, right, scores = blocked.left, blocked.right, blocked.scores
        comparisons = blocked.comparisons
        best = None
        stats.update(
            skipped_buckets=float(blocked.skipped_buckets),
            bands=float(blocked.bands),
            bits_per_band=float(blocked.bits_per_band),
        )
    t2 = time.perf_counter()
    if learn and best is not None:
        model = estimate_from_neighbours(best[0], best[1], body, floor, float(threshold))
        if model.threshold < threshold:
            # The pairs between the learned and the given threshold: one more pass.
            if candidates is not None:
                left, right, scores, more, _, _ = candidates(
                    packed, dedup_arr, model.threshold, None, None
                )
            else:
                left, right, scores, more, _ = _exhaustive(
                    packed, offsets, dedup_arr, model.threshold, workers
                )
            comparisons += more
        # Each record's best two per body below the threshold: for the review list.
        near = _near_pairs(best, model.threshold)
        left = np.concatenate([left, near[0]])
        right = np.concatenate([right, near[1]])
        scores = np.concatenate([scores, near[2]])
    elif threshold_from_data:
        model = ScoreModel(float(threshold), "fallback: LSH run (above the budget)", floor)
    else:
        model = ScoreModel(float(threshold), "fixed", floor)
    t3 = time.perf_counter()

    n = int(sizes.sum())
    # The clustering reads the CLKs themselves: whether two rivals are nearly the same
    # record (twins of one name), and the support rule of deduplicating bodies
    # (``clustering.cluster``).
    clks = all_clks if all_clks is not None else _concat(packed)
    dec = decide(n, left, right, scores, body, dedup_arr, model, review_margin=review_margin,
                 must_link=must_link, cannot_link=cannot_link, decided=decided,
                 clks=clks)  # fmt: skip
    t5 = time.perf_counter()

    group_of = [dec.group_of[o : o + s].copy() for o, s in zip(offsets, sizes, strict=True)]
    stats.update(
        floor_pairs=float(left.size),
        comparisons=float(comparisons),
        all_pairs=float(all_pairs),
        exhaustive=float(config is None),
        seconds_pack=t1 - t0,
        seconds_candidates=t2 - t1,
        seconds_threshold=t3 - t2,
    )
    stats.update(dec.stats)
    stats.update(seconds_total=t5 - t0)
    return LinkResult(
        group_of=group_of, n_groups=dec.n_groups, review=dec.review, stats=stats,
        review_risk=dec.review_risk, review_order=dec.review_order,
        threshold=float(model.threshold), threshold_source=model.source,
        pairs=(left, right, scores),
    )  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """The groups decided from a run's scored pairs (``decide``).

    Attributes:
        group_of: ``(n,)`` int64 group of each record (global indices).
        n_groups: number of groups.
        review, review_risk, review_order: as in ``LinkResult``.
        stats: ``candidate_pairs``, ``threshold``, ``threshold_learned``, ``merges``,
            ``reassigned``, ``ambiguous_pairs``, ``dedup_refused`` (merges of
            deduplicating records refused for lack of support), ``support_floor`` (with
            a dedup body: the score from which a pair supports such a merge, see
            ``clustering.support_floor``), ``review_groups``,
            ``constraint_conflicts``, ``seconds_cluster``, ``seconds_review``.
    """

    group_of: np.ndarray
    n_groups: int
    review: np.ndarray
    review_risk: np.ndarray
    review_order: np.ndarray
    stats: dict[str, float]


def decide(
    n: int, left: np.ndarray, right: np.ndarray, scores: np.ndarray, body: np.ndarray,
    dedup: np.ndarray, model: ScoreModel, *, review_margin: float = DEFAULT_REVIEW_MARGIN,
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    decided: np.ndarray | None = None, clks: PackedClks | None = None,
) -> Decision:  # fmt: skip
    """Everything after scoring, shared by ``link`` and ``linkage.delta.link_delta`` so
    that full and incremental runs cannot drift apart: ``clustering.cluster`` over the
    pairs ``>= model.threshold``, ``clustering.reassign_beaten`` (the twin move),
    ``review.review_groups`` with ``model``, and the groups people have wholly decided
    taken off the review list.

    Args:
        n: number of records; ``body`` ``(n,)`` int64 body of each.
        left, right, scores: ``(m,)`` scored pairs in global indices (pairs below the
            threshold are seen by the review and the twin move, never merged).
        dedup: ``(n_bodies,)`` bool.
        model: the run's threshold and score model (``threshold.ScoreModel``).
        review_margin, must_link, cannot_link, decided: as for ``link``.
        clks: ``(n,)`` packed CLKs in global index order: the clustering tells near-ties
            of nearly identical rivals (``clustering.ALIKE_FROM``) from them, and with a
            dedup body the support rule scores the pairs between two groups from them
            (``clustering.cluster``), so neither depends on which pairs below the
            threshold were kept.
    """
    t0 = time.perf_counter()
    t_run = float(model.threshold)
    # A threshold that was not learned has no fitted P(match | s): the review gets one
    # fitted to this run's pairs above the threshold (the same pairs, so the same model,
    # in full and incremental runs).
    seen = model if model.learned else review_model(left, right, scores, body, model)
    # Two records of one deduplicating body are one child only where they score like one:
    # the fitted mixture with the body's own share of repeats (siblings score high too).
    same = same_body_floor(left, right, scores, body, dedup, seen)
    grouped = cluster(
        n, left, right, scores, body, dedup=dedup, review_margin=review_margin,
        threshold=t_run, must_link=must_link, cannot_link=cannot_link, decided=decided,
        clks=clks, alike_from=ALIKE_FROM, same_floor=None if same is None else same.floor,
    )  # fmt: skip
    # A record joined to the other twin's group while its own twin's record scores
    # clearly higher with it is moved there (decided by its direct scores); the review
    # evidence of the new groups decides whether a person sees them.
    keep = np.zeros(n, bool)
    for pairs in (must_link, cannot_link):
        if pairs is not None:
            keep[np.asarray(pairs[0], np.int64)] = True
            keep[np.asarray(pairs[1], np.int64)] = True
    if decided is not None:
        keep |= np.asarray(decided, bool)
    group_all, moved = reassign_beaten(grouped.group_of, left, right, scores, body, t_run,
                                       BEATEN_BY, dedup, keep)  # fmt: skip
    t1 = time.perf_counter()
    split_floor = float(grouped.floor) if np.any(dedup) else None
    rev = review_groups(group_all, grouped.n_groups, left, right, scores, body, seen,
                        grouped.review, dedup=dedup, split_floor=split_floor,
                        known=must_link, same_body=same)  # fmt: skip
    flagged, ranking = rev.flagged, rev.ranking
    if decided is not None:
        # A group whose records people have all reviewed is not put to them again.
        open_groups = np.zeros(grouped.n_groups, bool)
        open_groups[group_all[~np.asarray(decided, bool)]] = True
        flagged = flagged & open_groups
        ranking = ranking[flagged[ranking]]
    t2 = time.perf_counter()
    stats = {
        "candidate_pairs": float(np.count_nonzero(scores >= t_run)),
        "threshold": t_run,
        "threshold_learned": float(model.source == "em"),
        "merges": float(grouped.merges),
        "reassigned": float(moved.sum()),
        "ambiguous_pairs": float(grouped.ambiguous),
        "dedup_refused": float(grouped.refused),
        "review_groups": float(flagged.sum()),
        "constraint_conflicts": float(grouped.conflicts),
        "seconds_cluster": t1 - t0,
        "seconds_review": t2 - t1,
    }
    if np.any(dedup):
        stats["support_floor"] = float(grouped.floor)
        stats["dedup_refused_same"] = float(grouped.refused_same)
        if same is not None:
            on = same.floor <= 1.0
            stats["same_body_floor"] = float(same.floor[on].min())
            stats["same_body_floor_max"] = float(same.floor[on].max())
            stats["same_body_share"] = max(m.match_share for m in same.models if m is not None)
    return Decision(group_all, grouped.n_groups, flagged, rev.risk, ranking, stats)
