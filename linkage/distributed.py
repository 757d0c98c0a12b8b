"""Stage 2 (candidate generation and Dice scoring) as tasks on a Dask cluster.

``ClusterCandidates(client)`` is a ``linkage.engine.CandidateStage``: pass it to
``link(..., candidates=...)`` and the run's comparisons are split into tasks that run on
the cluster's workers, while packing, the threshold, clustering and review stay in the
calling process and are the engine's own code. The tasks reuse the engine's kernels
(``similarity.dice_pairs``, ``blocking.run_bands``); only the split is new:

* **every pair** (``blocking`` exhaustive) — for each pair of bodies ``(x, y)`` (and
  ``(x, x)`` for a body with deduplication) the rows of ``x`` are cut into blocks of
  about equal cost; a task compares one block with all of ``y``. Within one body a
  block compares with itself (pairs ``i < j``) and with the rows after it, so every pair
  is compared exactly once. With a learned threshold a task runs
  ``neighbours.dice_best`` (as the engine's exhaustive pass does) and also returns the two
  best partners ``>= floor`` it saw, for its block's rows and for the rows of ``y``; the
  client merges them (best two of a union = best two of the parts' best two, ties to
  the lower partner index), so the learned threshold, the near pairs for the review and
  the groups are the in-process ones. A lower estimate's second pass runs here too.
* **LSH** — the bands are planned once here (``blocking.plan_bands``: the same sampled
  bits as in-process) and split between tasks; a pair is reported only by the first band
  its bits agree in, so the parts are disjoint and their union is the in-process set.

Scores are the same float64 ``2 c / (pa + pb)`` and the same ``>= floor`` test, so the
pairs handed to clustering are the in-process pairs; clustering orders pairs itself
(score, then indices) and the review is order-free, so groups, review flags and risks
are identical (``tests/linkage/test_distributed.py``). Only the ``comparisons`` counter
of an exhaustive run may differ slightly: popcount pruning works on 4-row groups, and
the blocks group rows differently.

The packed datasets are sent to every worker once per run (``scatter`` with broadcast);
tasks refer to them, so they are not re-sent per task. What a worker receives is
encodings and it returns pairs with scores (and, when learning, best-two partners with
scores): the same data the server holds, see ``docs/threat-model.md`` ("Dask workers",
"Learned threshold on Dask workers and in incremental runs").

This module opens no connection and does not import Dask: the caller hands it a
connected ``dask.distributed.Client`` (the server: ``server/scaleout.py``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from linkage.blocking import BlockingConfig, merge_bands, plan_bands, run_bands
from linkage.neighbours import Neighbours, _merge_best, dice_best
from linkage.packed import PackedClks
from linkage.similarity import dice_pairs

TASKS_PER_THREAD = 4
"""Tasks per worker thread: enough to even out blocks of unequal cost, few enough that
per-task overhead (a few ms) stays small against the comparisons."""
MIN_BLOCK_ROWS = 256


_Near = tuple[int, int, np.ndarray, np.ndarray, np.ndarray]
"""Part of the best-two table: ``(row body, partner body, rows, score, partner)`` with
``rows`` ``(r,)`` indices into the row body, ``score``/``partner`` ``(r, 2)``, partners in
the partner body's own indices (only rows with at least one partner are sent)."""


def _near(x: int, y: int, first: int, near: Neighbours, shift: int) -> _Near:
    rows = np.flatnonzero(near.partner[:, 0] >= 0)
    partner = near.partner[rows]
    return x, y, rows + first, near.score[rows], np.where(partner >= 0, partner + shift, -1)


def _compare_block(a: PackedClks, b: PackedClks | None, x: int, y: int, start: int, stop: int,
                   threshold: float, floor: float | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, list[_Near]]:  # fmt: skip
    """Rows ``start .. stop-1`` of body ``x`` (``a``) against body ``y`` (``b``; ``None``:
    against ``a`` itself, ``x == y``).

    Returns ``(i, j, scores, comparisons, near)``: the pairs ``>= threshold``, ``i`` row
    indices into ``a``, ``j`` into ``b`` (or ``a``; then pairs ``i < j`` only), and with
    ``floor`` the best two partners ``>= floor`` that this block saw, for its rows and
    for the rows it was compared with (``neighbours.dice_best``; ``[]`` without ``floor``).
    """
    block = a.take(np.arange(start, stop))
    if floor is None:
        if b is not None:
            res = dice_pairs(block, b, threshold, workers=1, sort=False)
            return res.left + start, res.right, res.scores, res.comparisons, []
        inner = dice_pairs(block, None, threshold, workers=1, sort=False)
        tail = a.take(np.arange(stop, len(a)))
        outer = dice_pairs(block, tail, threshold, workers=1, sort=False)
        near: list[_Near] = []
    else:
        if b is not None:
            res, nb_a, nb_b = dice_best(block, b, threshold, floor, workers=1)
            near = [_near(x, y, start, nb_a, 0), _near(y, x, 0, nb_b, start)]
            return res.left + start, res.right, res.scores, res.comparisons, near
        inner, nb_in, _ = dice_best(block, None, threshold, floor, workers=1)
        tail = a.take(np.arange(stop, len(a)))
        outer, nb_a, nb_t = dice_best(block, tail, threshold, floor, workers=1)
        near = [_near(x, x, start, nb_in, start), _near(x, x, start, nb_a, stop),
                _near(x, x, stop, nb_t, start)]  # fmt: skip
    return (
        np.concatenate([inner.left + start, outer.left + start]),
        np.concatenate([inner.right + start, outer.right + stop]),
        np.concatenate([inner.scores, outer.scores]),
        inner.comparisons + outer.comparisons,
        near,
    )


def _merge_near(sizes: list[int], offsets: np.ndarray, parts: list[_Near]
                ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The blocks' best-two parts merged into the engine's ``(n, n_bodies, 2)`` table
    (global partner indices). Best two of a union is the best two of the parts' best
    two (same score order, ties to the lower partner), so any split gives the same."""
    n, d = int(sum(sizes)), len(sizes)
    score = np.full((n, d, 2), -1.0)
    partner = np.full((n, d, 2), -1, np.int64)
    for x, y, rows, sc, pa in parts:
        g = rows + offsets[x]
        pa = np.where(pa >= 0, pa + offsets[y], -1)
        cs, cp = _merge_best(np.concatenate([score[g, y], sc], axis=1),
                             np.concatenate([partner[g, y], pa], axis=1))  # fmt: skip
        score[g, y], partner[g, y] = cs, cp
    return score, partner


def _bands_task(clks: PackedClks, body: np.ndarray, dedup: np.ndarray, plan: Any,
                band_ids: np.ndarray) -> tuple:  # fmt: skip
    return run_bands(clks, body, dedup, plan, band_ids)


def _blocks(n: int, parts: int, min_rows: int = MIN_BLOCK_ROWS) -> list[tuple[int, int]]:
    """``0 .. n`` cut into at most ``parts`` contiguous ranges of about ``min_rows`` rows
    or more."""
    parts = max(1, min(parts, math.ceil(n / min_rows)))
    edges = np.linspace(0, n, parts + 1).round().astype(np.int64)
    return [(int(s), int(e)) for s, e in itertools.pairwise(edges) if e > s]


class ClusterCandidates:
    """Stage 2 on a Dask cluster (see the module docstring).

    Args:
        client: a connected ``dask.distributed.Client`` (duck-typed: ``scatter``,
            ``submit``, ``gather``, ``cancel``, ``nthreads``).
        tasks_per_thread: tasks per worker thread of the cluster.
        min_block_rows: an exhaustive task compares at least about this many rows.

    After a call, ``tasks`` and ``threads`` say how the run was split.
    """

    def __init__(self, client: Any, *, tasks_per_thread: int = TASKS_PER_THREAD,
                 min_block_rows: int = MIN_BLOCK_ROWS) -> None:  # fmt: skip
        self.client = client
        self.tasks_per_thread = tasks_per_thread
        self.min_block_rows = min_block_rows
        self.tasks = 0
        self.threads = 0

    def __call__(self, packed: list[PackedClks], dedup: np.ndarray, threshold: float,
                 config: BlockingConfig | None, floor: float | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int,
                            tuple[np.ndarray, np.ndarray] | None, dict[str, float]]:  # fmt: skip
        self.threads = max(1, sum(self.client.nthreads().values()))
        best = None
        if config is None:
            left, right, scores, comparisons, best = self._exhaustive(
                packed, dedup, threshold, floor
            )
            extra: dict[str, float] = {}
        else:
            left, right, scores, comparisons, extra = self._lsh(packed, dedup, threshold, config)
        extra.update(dask_tasks=float(self.tasks), dask_threads=float(self.threads))
        return left, right, scores, comparisons, best, extra

    def _exhaustive(self, packed: list[PackedClks], dedup: np.ndarray, threshold: float,
                    floor: float | None) -> tuple:  # fmt: skip
        sizes = [len(p) for p in packed]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # (x, y): blocks of x's rows against all of y (each pair of bodies once).
        sides = [(a, b) for a in range(len(packed)) for b in range(a, len(packed))
                 if a != b or dedup[a]]  # fmt: skip
        cost = [sizes[x] * sizes[y] / (2 if x == y else 1) for x, y in sides]
        target = max(sum(cost), 1.0) / (self.tasks_per_thread * self.threads)
        data = self.client.scatter(list(packed), broadcast=True, hash=False)
        futures, where = [], []
        try:
            for (x, y), c in zip(sides, cost, strict=True):
                for start, stop in _blocks(sizes[x], math.ceil(c / target), self.min_block_rows):
                    right = None if x == y else data[y]
                    futures.append(self.client.submit(
                        _compare_block, data[x], right, x, y, start, stop, threshold, floor,
                        pure=False,
                    ))  # fmt: skip
                    where.append((x, y))
            self.tasks = len(futures)
            parts = self.client.gather(futures)
        finally:
            self.client.cancel([*futures, *data])
        lefts, rights, scores = [], [], []
        comparisons = 0
        near: list[_Near] = []
        for (x, y), (i, j, sc, c, nb) in zip(where, parts, strict=True):
            comparisons += int(c)
            gi, gj = i + offsets[x], j + offsets[y]
            lefts.append(np.minimum(gi, gj))
            rights.append(np.maximum(gi, gj))
            scores.append(sc)
            near += nb
        empty = np.zeros(0, np.int64)
        left = np.concatenate(lefts or [empty])
        right = np.concatenate(rights or [empty])
        score = np.concatenate(scores or [np.zeros(0)])
        best = None if floor is None else _merge_near(sizes, offsets, near)
        return left, right, score, comparisons, best

    def _lsh(self, packed: list[PackedClks], dedup: np.ndarray, threshold: float,
             config: BlockingConfig) -> tuple:  # fmt: skip
        allc = PackedClks(
            np.concatenate([p.words for p in packed]),
            np.concatenate([p.popcounts for p in packed]),
            packed[0].bit_length,
        )
        sizes = np.array([len(p) for p in packed], np.int64)
        body = np.repeat(np.arange(len(packed), dtype=np.int64), sizes)
        plan = plan_bands(allc, threshold, config)
        n_tasks = max(1, min(plan.bands, self.tasks_per_thread * self.threads))
        chunks = [np.arange(t, plan.bands, n_tasks, dtype=np.int64) for t in range(n_tasks)]
        data = self.client.scatter([allc, body, np.asarray(dedup, bool), plan],
                                   broadcast=True, hash=False)  # fmt: skip
        futures = []
        try:
            futures = [self.client.submit(_bands_task, *data, c, pure=False) for c in chunks]
            self.tasks = len(futures)
            parts = self.client.gather(futures)
        finally:
            self.client.cancel([*futures, *data])
        blocked = merge_bands(plan, parts)
        extra = {
            "skipped_buckets": float(blocked.skipped_buckets),
            "bands": float(blocked.bands),
            "bits_per_band": float(blocked.bits_per_band),
        }
        return blocked.left, blocked.right, blocked.scores, blocked.comparisons, extra
