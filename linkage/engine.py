"""Linkage engine entry point: datasets of CLKs in, groups out.

This first version delegates comparison and solving to anonlink (Dice + its multi-party
greedy solver). The signature is the stable contract the server uses; the internals are
replaced stage by stage (packed arrays, blocking, own Dice kernel, clustering with review
flags) without changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from linkage.errors import LinkageError


@dataclass(frozen=True)
class LinkResult:
    """Groups found by a linkage run.

    Attributes:
        group_of: one int64 array per dataset, shape ``(n_d,)``: the group index of each
            record. Every record has a group; singletons get a group of their own.
        n_groups: number of groups; group indices run ``0 .. n_groups - 1``.
        review: bool array of shape ``(n_groups,)``: True where the group was decided
            between candidates within the review margin and a person should look at it.
        stats: counters for the run (candidate pairs, comparisons, ...).
    """

    group_of: list[np.ndarray]
    n_groups: int
    review: np.ndarray
    stats: dict[str, float] = field(default_factory=dict)


def _validate(datasets: Sequence[np.ndarray], threshold: float) -> int:
    if not 0 < threshold <= 1:
        raise LinkageError(f"threshold {threshold} is outside (0, 1]")
    if len(datasets) < 2:
        raise LinkageError("linkage needs at least two datasets (bodies)")
    widths = {d.shape[1] for d in datasets if d.ndim == 2}
    if any(d.ndim != 2 or d.dtype != np.uint8 for d in datasets):
        raise LinkageError("each dataset must be a 2-D uint8 array of CLK bytes")
    if len(widths) != 1:
        raise LinkageError(
            f"CLK lengths differ between datasets: {sorted(w * 8 for w in widths)} bits"
        )
    if any(d.shape[0] == 0 for d in datasets):
        empty = [i for i, d in enumerate(datasets) if d.shape[0] == 0]
        raise LinkageError(f"dataset(s) {empty} are empty")
    return widths.pop() * 8


def link(
    datasets: Sequence[np.ndarray],
    *,
    threshold: float,
) -> LinkResult:
    """Link CLKs across datasets, at most one record per dataset in a group.

    Args:
        datasets: one ``(n_d, bit_length/8)`` uint8 array per body.
        threshold: Dice threshold in (0, 1].

    Raises:
        LinkageError: on mismatched CLK lengths, empty datasets, fewer than two datasets
            or a threshold outside (0, 1].
    """
    import anonlink
    from bitarray import bitarray

    _validate(datasets, threshold)

    def to_bitarrays(rows: np.ndarray) -> list[bitarray]:
        out = []
        for row in rows:
            ba = bitarray(endian="big")
            ba.frombytes(row.tobytes())
            out.append(ba)
        return out

    bas = [to_bitarrays(d) for d in datasets]
    candidates = anonlink.candidate_generation.find_candidate_pairs(
        bas, anonlink.similarities.dice_coefficient_accelerated, threshold
    )
    solved = anonlink.solving.greedy_solve(candidates)
    group_of = [np.full(d.shape[0], -1, dtype=np.int64) for d in datasets]
    next_group = 0
    for group in solved:
        for dset, rec in group:
            group_of[dset][rec] = next_group
        next_group += 1
    for arr in group_of:
        missing = np.flatnonzero(arr < 0)
        arr[missing] = np.arange(next_group, next_group + missing.size)
        next_group += missing.size
    return LinkResult(
        group_of=group_of,
        n_groups=next_group,
        review=np.zeros(next_group, dtype=bool),
        stats={"candidate_pairs": float(len(candidates[0]))},
    )
