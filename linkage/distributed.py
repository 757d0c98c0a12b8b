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
  is compared exactly once. With a learned threshold (per-record top-``k``) a task keeps
  the ``k`` best partners of each row of its block against all of ``y``, as the engine
  does row chunk by row chunk, so the kept pairs are the same.
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
encodings and it returns pairs with scores: the same data the server holds, see
``docs/threat-model.md`` ("Dask workers").

This module opens no connection and does not import Dask: the caller hands it a
connected ``dask.distributed.Client`` (the server: ``server/scaleout.py``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from linkage.blocking import BlockingConfig, merge_bands, plan_bands, run_bands
from linkage.engine import _top_k_pairs
from linkage.packed import PackedClks
from linkage.similarity import dice_pairs

TASKS_PER_THREAD = 4
"""Tasks per worker thread: enough to even out blocks of unequal cost, few enough that
per-task overhead (a few ms) stays small against the comparisons."""
MIN_BLOCK_ROWS = 256


def _compare_block(a: PackedClks, b: PackedClks | None, start: int, stop: int, floor: float,
                   k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
    """Rows ``start .. stop-1`` of ``a`` against ``b`` (``None``: against ``a`` itself).

    Returns ``(i, j, scores, comparisons)``: ``i`` row indices into ``a``, ``j`` into ``b``
    (or ``a``). Against itself without ``k``: pairs ``i < j`` only; with ``k``: the ``k``
    best partners of each row (the row itself included when ``b`` is ``None``, as the
    engine counts it: the caller asks for ``k + 1`` and drops it).
    """
    block = a.take(np.arange(start, stop))
    if k is not None:
        i, j, sc, c = _top_k_pairs(block, a if b is None else b, floor, k, workers=1)
        return i + start, j, sc, c
    if b is not None:
        res = dice_pairs(block, b, floor, workers=1, sort=False)
        return res.left + start, res.right, res.scores, res.comparisons
    inner = dice_pairs(block, None, floor, workers=1, sort=False)
    tail = a.take(np.arange(stop, len(a)))
    outer = dice_pairs(block, tail, floor, workers=1, sort=False)
    return (
        np.concatenate([inner.left + start, outer.left + start]),
        np.concatenate([inner.right + start, outer.right + stop]),
        np.concatenate([inner.scores, outer.scores]),
        inner.comparisons + outer.comparisons,
    )


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

    def __call__(self, packed: list[PackedClks], dedup: np.ndarray, floor: float,
                 config: BlockingConfig | None, k: int | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict[str, float]]:  # fmt: skip
        self.threads = max(1, sum(self.client.nthreads().values()))
        if config is None:
            left, right, scores, comparisons = self._exhaustive(packed, dedup, floor, k)
            extra: dict[str, float] = {}
        else:
            left, right, scores, comparisons, extra = self._lsh(packed, dedup, floor, config)
        extra.update(dask_tasks=float(self.tasks), dask_threads=float(self.threads))
        return left, right, scores, comparisons, extra

    def _exhaustive(self, packed: list[PackedClks], dedup: np.ndarray, floor: float,
                    k: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
        sizes = [len(p) for p in packed]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # (x, y): rows of x against y; with k both directions, as the engine keeps the k
        # best partners of each side.
        sides: list[tuple[int, int]] = []
        for a in range(len(packed)):
            for b in range(a, len(packed)):
                if a == b and not dedup[a]:
                    continue
                sides += [(a, b)] if a == b or k is None else [(a, b), (b, a)]
        cost = [sizes[x] * sizes[y] / (2 if x == y else 1) for x, y in sides]
        target = max(sum(cost), 1.0) / (self.tasks_per_thread * self.threads)
        data = self.client.scatter(list(packed), broadcast=True, hash=False)
        futures, where = [], []
        try:
            for (x, y), c in zip(sides, cost, strict=True):
                for start, stop in _blocks(sizes[x], math.ceil(c / target), self.min_block_rows):
                    right = None if x == y else data[y]
                    kk = None if k is None else k + (x == y)
                    futures.append(self.client.submit(
                        _compare_block, data[x], right, start, stop, floor, kk, pure=False,
                    ))  # fmt: skip
                    where.append((x, y))
            self.tasks = len(futures)
            parts = self.client.gather(futures)
        finally:
            self.client.cancel([*futures, *data])
        lefts, rights, scores = [], [], []
        comparisons = 0
        for (x, y), (i, j, sc, c) in zip(where, parts, strict=True):
            comparisons += int(c)
            gi, gj = i + offsets[x], j + offsets[y]
            if k is not None and x == y:
                keep = i != j
                gi, gj, sc = gi[keep], gj[keep], sc[keep]
            lefts.append(np.minimum(gi, gj))
            rights.append(np.maximum(gi, gj))
            scores.append(sc)
        left, right, score = np.concatenate(lefts), np.concatenate(rights), np.concatenate(scores)
        if k is not None and left.size:
            # A pair kept by both sides once, in (left, right) order: the engine's order.
            n = int(sum(sizes))
            _, first = np.unique(left * n + right, return_index=True)
            left, right, score = left[first], right[first], score[first]
        return left, right, score, comparisons

    def _lsh(self, packed: list[PackedClks], dedup: np.ndarray, floor: float,
             config: BlockingConfig) -> tuple:  # fmt: skip
        allc = PackedClks(
            np.concatenate([p.words for p in packed]),
            np.concatenate([p.popcounts for p in packed]),
            packed[0].bit_length,
        )
        sizes = np.array([len(p) for p in packed], np.int64)
        body = np.repeat(np.arange(len(packed), dtype=np.int64), sizes)
        plan = plan_bands(allc, floor, config)
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
