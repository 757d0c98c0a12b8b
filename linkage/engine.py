"""Linkage engine entry point: datasets of CLKs in, groups out.

Stages (each in its own module, timed in ``LinkResult.stats``):

1. ``packed`` — container rows to ``uint64`` words plus popcounts;
2. candidates — ``blocking.lsh_candidates`` (default) or, with ``blocking="exhaustive"``,
   ``similarity.dice_pairs`` on every pair of bodies; both give exact Dice scores for
   every reported pair, ``>= threshold``;
3. ``clustering.cluster`` — greedy, at most one record per body per group unless the
   body asked for deduplication, ambiguous pairs flagged for review.

Tokens are assigned separately (``linkage.tokens`` / ``linkage.incremental``).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from linkage.blocking import BlockingConfig, lsh_candidates
from linkage.clustering import cluster
from linkage.errors import LinkageError
from linkage.packed import PackedClks, pack
from linkage.similarity import dice_pairs

MAX_BODIES = 10
DEFAULT_REVIEW_MARGIN = 0.03


@dataclass(frozen=True)
class LinkResult:
    """Groups found by a linkage run.

    Attributes:
        group_of: one int64 array per dataset, shape ``(n_d,)``: the group index of each
            record. Every record has a group; singletons get a group of their own.
        n_groups: number of groups; group indices run ``0 .. n_groups - 1``.
        review: bool array of shape ``(n_groups,)``: True where the group was decided
            between candidates within the review margin and a person should look at it.
        stats: counters for the run: ``candidate_pairs`` (pairs at or above the
            threshold), ``comparisons`` (pairs whose bits were compared), ``merges``,
            ``ambiguous_pairs``, ``review_groups``, ``constraint_conflicts``,
            ``skipped_buckets``, ``bands``, ``bits_per_band`` and ``seconds_pack``,
            ``seconds_candidates``, ``seconds_cluster``, ``seconds_total``.
    """

    group_of: list[np.ndarray]
    n_groups: int
    review: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)


def _validate(datasets: Sequence[np.ndarray], threshold: float) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise LinkageError(f"threshold must be a number, got {type(threshold).__name__}")
    if not 0 < threshold <= 1:
        raise LinkageError(f"threshold {threshold} is outside (0, 1]")
    if len(datasets) < 2:
        raise LinkageError("linkage needs at least two datasets (bodies)")
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


def _blocking_config(blocking: str | BlockingConfig | None) -> BlockingConfig | None:
    """``None`` for exhaustive comparison, else the LSH configuration."""
    if isinstance(blocking, BlockingConfig):
        return blocking
    if blocking is None or blocking == "default":
        return BlockingConfig()
    if blocking == "exhaustive":
        return None
    raise LinkageError(f"unknown blocking {blocking!r}: use 'default' or 'exhaustive'")


def _exhaustive(
    packed: list[PackedClks], offsets: np.ndarray, dedup: np.ndarray, threshold: float,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
    lefts, rights, scores = [], [], []
    comparisons = 0
    for a in range(len(packed)):
        for b in range(a, len(packed)):
            if a == b and not dedup[a]:
                continue
            res = dice_pairs(packed[a], None if a == b else packed[b], threshold,
                             workers=workers, sort=False)  # fmt: skip
            lefts.append(res.left + offsets[a])
            rights.append(res.right + offsets[b])
            scores.append(res.scores)
            comparisons += res.comparisons
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(scores), comparisons


def link(
    datasets: Sequence[np.ndarray],
    *,
    threshold: float,
    blocking: str | BlockingConfig | None = "default",
    dedup: Sequence[bool] | None = None,
    review_margin: float = DEFAULT_REVIEW_MARGIN,
    workers: int | None = None,
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    decided: np.ndarray | None = None,
) -> LinkResult:
    """Link CLKs across datasets, at most one record per dataset in a group.

    Args:
        datasets: one ``(n_d, bit_length/8)`` uint8 array per body (2 to 10 bodies).
        threshold: Dice threshold in (0, 1].
        blocking: ``"default"`` (LSH on the encodings), ``"exhaustive"`` (every pair),
            or a ``BlockingConfig``; ``None`` means the default.
        dedup: per dataset, True lets that body's own records share a group
            (within-body deduplication); default all False.
        review_margin: two rival candidates scoring within this margin make a pair
            ambiguous: it is not merged and its groups get ``review=True``; 0 disables.
        workers: threads for comparison (default: the CPUs this process may use).
        must_link, cannot_link, decided: known answers from people's review, in global
            record indices (datasets concatenated in order); see ``clustering.cluster``.

    Raises:
        LinkageError: on mismatched CLK lengths, empty datasets, fewer than two or more
            than ten datasets, a threshold outside (0, 1] or other invalid arguments.
    """
    t0 = time.perf_counter()
    _validate(datasets, threshold)
    config = _blocking_config(blocking)
    if dedup is None:
        dedup_arr = np.zeros(len(datasets), bool)
    else:
        if len(dedup) != len(datasets):
            raise LinkageError(f"dedup has {len(dedup)} entries for {len(datasets)} datasets")
        dedup_arr = np.asarray([bool(x) for x in dedup])
    if not 0 <= review_margin < 1:
        raise LinkageError(f"review_margin {review_margin} is outside [0, 1)")
    if workers is not None and workers < 1:
        raise LinkageError(f"workers must be at least 1, got {workers}")

    packed = [pack(d) for d in datasets]
    sizes = np.array([len(p) for p in packed], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    body = np.repeat(np.arange(len(packed), dtype=np.int64), sizes)
    t1 = time.perf_counter()

    stats: dict[str, float] = {}
    if config is None:
        left, right, scores, comparisons = _exhaustive(
            packed, offsets, dedup_arr, threshold, workers
        )
    else:
        allc = PackedClks(
            np.concatenate([p.words for p in packed]),
            np.concatenate([p.popcounts for p in packed]),
            packed[0].bit_length,
        )
        blocked = lsh_candidates(allc, body, dedup_arr, threshold, config, workers=workers)
        left, right, scores = blocked.left, blocked.right, blocked.scores
        comparisons = blocked.comparisons
        stats.update(
            skipped_buckets=float(blocked.skipped_buckets),
            bands=float(blocked.bands),
            bits_per_band=float(blocked.bits_per_band),
        )
    t2 = time.perf_counter()

    n = int(sizes.sum())
    grouped = cluster(
        n, left, right, scores, body, dedup=dedup_arr, review_margin=review_margin,
        must_link=must_link, cannot_link=cannot_link, decided=decided,
    )  # fmt: skip
    t3 = time.perf_counter()

    group_of = [grouped.group_of[o : o + s].copy() for o, s in zip(offsets, sizes, strict=True)]
    all_pairs = sum(
        int(sizes[a]) * int(sizes[b]) for a in range(len(sizes)) for b in range(a + 1, len(sizes))
    ) + sum(int(s) * (int(s) - 1) // 2 for s, d in zip(sizes, dedup_arr, strict=True) if d)
    stats.update(
        candidate_pairs=float(left.size),
        comparisons=float(comparisons),
        all_pairs=float(all_pairs),
        merges=float(grouped.merges),
        ambiguous_pairs=float(grouped.ambiguous),
        review_groups=float(grouped.review.sum()),
        constraint_conflicts=float(grouped.conflicts),
        seconds_pack=t1 - t0,
        seconds_candidates=t2 - t1,
        seconds_cluster=t3 - t2,
        seconds_total=t3 - t0,
    )
    return LinkResult(
        group_of=group_of, n_groups=grouped.n_groups, review=grouped.review, stats=stats
    )
