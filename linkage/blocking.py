"""Blocking on the encodings alone: Hamming LSH over sampled CLK bits (λ-fold LSH).

Each of ``bands`` bands samples ``bits_per_band`` bit positions; records whose sampled bits
agree fall in the same bucket, and only records sharing a bucket are compared. Two CLKs
with per-bit agreement ``q`` share a band with probability ``q**r`` and at least one of
``L`` bands with ``1 - (1 - q**r)**L``; for a pair at Dice ``d`` with bit density ``f``,
``q = 1 - 2 f (1 - d)``. Unrelated CLKs agree on far fewer bits, so ``r`` around
``log2(n) + 2`` makes their collisions rare while ``L`` is chosen so pairs at the
threshold are missed with probability about ``target_miss``.

Deduplication without a global set: a pair found in band ``b`` is reported only if ``b`` is
the first band in which its sampled bits truly agree (checked with per-band bit masks),
so every pair is reported at most once and bands can run on separate threads.

Buckets are bounded: a bucket with more than ``max_bucket`` records (near-empty CLKs,
skewed bits) is skipped and counted; its pairs are only found if they first agree in a
band where their bucket is small. Everything above the Dice threshold is scored exactly.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from linkage.errors import LinkageError
from linkage.packed import PackedClks
from linkage.similarity import _popcount


@dataclass(frozen=True)
class BlockingConfig:
    """Parameters of the bit-sampling LSH; ``None`` means chosen from the data.

    Attributes:
        bits_per_band: bits sampled per band (``r``); default ``ceil(log2 n) + 2``.
        bands: number of bands (``L``); default from ``target_miss`` at the threshold.
        max_bands: upper bound for the automatic ``bands``.
        max_bucket: buckets with more records than this are skipped.
        target_miss: design probability of missing a pair at exactly the threshold
            (with the median bit density).
        seed: seed for the bit sample (blocking is deterministic for a given seed).
    """

    bits_per_band: int | None = None
    bands: int | None = None
    max_bands: int = 200
    max_bucket: int = 1000
    target_miss: float = 0.001
    seed: int = 0


@dataclass(frozen=True)
class BlockedPairs:
    """Candidate pairs found by blocking, as global record indices.

    Attributes:
        left, right: ``(m,)`` int64 global indices with ``left < right``.
        scores: ``(m,)`` float64 Dice, each ``>= threshold``; pairs are unique.
        comparisons: pairs whose bits were compared.
        skipped_buckets: buckets over ``max_bucket`` that were skipped.
        bits_per_band, bands: the parameters used.
    """

    left: np.ndarray
    right: np.ndarray
    scores: np.ndarray
    comparisons: int
    skipped_buckets: int
    bits_per_band: int
    bands: int


def choose_parameters(
    clks: PackedClks, threshold: float, config: BlockingConfig
) -> tuple[int, int]:
    """``(bits_per_band, bands)`` for these CLKs (all bodies together) and threshold."""
    n = max(len(clks), 2)
    r = config.bits_per_band or int(min(48, max(8, math.ceil(math.log2(n)) + 2)))
    if config.bands is not None:
        return r, config.bands
    f = float(np.median(clks.popcounts)) / clks.bit_length
    q = min(0.995, max(0.5, 1.0 - 2.0 * f * (1.0 - threshold)))
    p_band = q**r
    bands = math.ceil(math.log(config.target_miss) / math.log1p(-p_band))
    return r, int(min(config.max_bands, max(1, bands)))


def _sample_bits(clks: PackedClks, r: int, bands: int, seed: int) -> np.ndarray:
    """``(bands, r)`` int64 bit positions, drawn from bits that are neither ~always 0 nor 1."""
    rng = np.random.default_rng(seed)
    sample = clks.words[rng.choice(len(clks), size=min(len(clks), 4096), replace=False)]
    as_bytes = sample.view(np.uint8)
    density = np.unpackbits(as_bytes, axis=1).mean(axis=0)
    useful = np.flatnonzero((density > 0.02) & (density < 0.98))
    if useful.size < r:
        useful = np.arange(clks.bit_length)
    # position p in the big-endian byte stream is bit 7 - p % 8 of byte p // 8; byte b of a
    # native little-endian uint64 word w is bits 8 (b % 8) .. of word b // 8.
    out = np.empty((bands, r), np.int64)
    for b in range(bands):
        pos = rng.choice(useful, size=r, replace=False)
        byte = pos // 8
        out[b] = (byte // 8) * 64 + (byte % 8) * 8 + (7 - pos % 8)
    return out


def _band_masks(bits: np.ndarray, n_words: int) -> np.ndarray:
    """``(bands, n_words)`` uint64 masks of the sampled bits of each band."""
    masks = np.zeros((bits.shape[0], n_words), np.uint64)
    for b in range(bits.shape[0]):
        for p in bits[b]:
            masks[b, p // 64] |= np.uint64(1) << np.uint64(p % 64)
    return masks


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _run_bands(words, pcs, body, dedup, bits, masks, band_ids, threshold, max_bucket, table_bits):
    """Bucket and compare for the bands in ``band_ids``; see the module docstring.

    ``words``: ``(n, nw)`` uint64, ``pcs``: ``(n,)`` int32, ``body``: ``(n,)`` int64 body of
    each record, ``dedup``: ``(n_bodies,)`` bool, ``bits``: ``(L, r)`` int64,
    ``masks``: ``(L, nw)`` uint64.
    Returns ``(left, right, score, comparisons, skipped)``.
    """
    n, nw = words.shape
    r = bits.shape[1]
    size = 1 << table_bits
    keys = np.empty(n, np.uint64)
    slot = np.empty(n, np.int64)
    start = np.empty(size + 1, np.int64)
    order = np.empty(n, np.int64)
    cap = 4096
    ol = np.empty(cap, np.int64)
    orr = np.empty(cap, np.int64)
    osc = np.empty(cap, np.float64)
    m = 0
    comparisons = 0
    skipped = 0
    mult = np.uint64(0x9E3779B97F4A7C15)
    shift = np.uint64(64 - table_bits)
    for band in band_ids:
        for x in range(n):
            key = np.uint64(0)
            for t in range(r):
                p = bits[band, t]
                key = (key << np.uint64(1)) | (
                    (words[x, p >> 6] >> np.uint64(p & 63)) & np.uint64(1)
                )
            keys[x] = key
            slot[x] = np.int64((key * mult) >> shift)
        start[:] = 0
        for x in range(n):
            start[slot[x] + 1] += 1
        for s in range(size):
            start[s + 1] += start[s]
        fill = start[:-1].copy()
        for x in range(n):
            order[fill[slot[x]]] = x
            fill[slot[x]] += 1
        for s in range(size):
            a = start[s]
            e = start[s + 1]
            if e - a < 2:
                continue
            if e - a > max_bucket:
                skipped += 1
                continue
            for u in range(a, e):
                x = order[u]
                px = pcs[x]
                for v in range(u + 1, e):
                    y = order[v]
                    if body[x] == body[y] and not dedup[body[x]]:
                        continue
                    if keys[x] != keys[y]:
                        continue
                    py = pcs[y]
                    tot = px + py
                    if tot == 0 or 2.0 * min(px, py) / tot < threshold:
                        continue
                    comparisons += 1
                    c = np.uint64(0)
                    for w in range(nw):
                        c += _popcount(words[x, w] & words[y, w])
                    score = 2.0 * c / tot
                    if score < threshold:
                        continue
                    first = True
                    for b2 in range(band):
                        agree = True
                        for w in range(nw):
                            if ((words[x, w] ^ words[y, w]) & masks[b2, w]) != 0:
                                agree = False
                                break
                        if agree:
                            first = False
                            break
                    if not first:
                        continue
                    if m == ol.shape[0]:
                        ol2 = np.empty(2 * m, np.int64)
                        ol2[:m] = ol
                        ol = ol2
                        or2 = np.empty(2 * m, np.int64)
                        or2[:m] = orr
                        orr = or2
                        os2 = np.empty(2 * m, np.float64)
                        os2[:m] = osc
                        osc = os2
                    ol[m] = min(x, y)
                    orr[m] = max(x, y)
                    osc[m] = score
                    m += 1
    return ol[:m].copy(), orr[:m].copy(), osc[:m].copy(), comparisons, skipped


def lsh_candidates(
    clks: PackedClks,
    body: np.ndarray,
    dedup: np.ndarray,
    threshold: float,
    config: BlockingConfig | None = None,
    *,
    workers: int | None = None,
) -> BlockedPairs:
    """Pairs with Dice ``>= threshold`` among records that share an LSH bucket.

    Args:
        clks: all records of all bodies, ``n`` packed CLKs.
        body: ``(n,)`` int64 body index of each record.
        dedup: ``(n_bodies,)`` bool; True lets records of that body pair with each other.
        threshold: Dice threshold in (0, 1].
        config: LSH parameters (default ``BlockingConfig()``).
        workers: threads (bands are split between them).
    """
    config = config or BlockingConfig()
    plan = plan_bands(clks, threshold, config)
    n_workers = workers or max(1, len(os.sched_getaffinity(0)))
    chunks = [np.arange(w, plan.bands, n_workers, dtype=np.int64) for w in range(n_workers)]
    chunks = [c for c in chunks if c.size]

    def run(band_ids: np.ndarray):
        return run_bands(clks, body, dedup, plan, band_ids)

    if len(chunks) == 1:
        results = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(len(chunks)) as pool:
            results = list(pool.map(run, chunks))
    return merge_bands(plan, results)


@dataclass(frozen=True)
class BandPlan:
    """Everything the bands of one LSH run share, fixed before any band runs.

    Attributes:
        bits: ``(bands, bits_per_band)`` int64 sampled bit positions.
        masks: ``(bands, n_words)`` uint64 masks of those bits.
        table_bits: log2 of the bucket hash table size.
        threshold: Dice threshold in (0, 1]; max_bucket: see ``BlockingConfig``.
    """

    bits: np.ndarray
    masks: np.ndarray
    table_bits: int
    threshold: float
    max_bucket: int

    @property
    def bands(self) -> int:
        return int(self.bits.shape[0])

    @property
    def bits_per_band(self) -> int:
        return int(self.bits.shape[1])


def plan_bands(clks: PackedClks, threshold: float, config: BlockingConfig) -> BandPlan:
    """Choose and sample the bands for ``clks`` (all bodies together); see the module."""
    if config.max_bucket < 2:
        raise LinkageError("max_bucket must be at least 2")
    r, bands = choose_parameters(clks, threshold, config)
    if not 1 <= r <= 62:
        raise LinkageError(f"bits_per_band must be in 1..62, got {r}")
    if bands < 1:
        raise LinkageError(f"bands must be at least 1, got {bands}")
    bits = _sample_bits(clks, r, bands, config.seed)
    masks = _band_masks(bits, clks.n_words)
    table_bits = int(min(r, max(4, math.ceil(math.log2(max(len(clks), 2))) + 1)))
    return BandPlan(bits, masks, table_bits, float(threshold), int(config.max_bucket))


def run_bands(clks: PackedClks, body: np.ndarray, dedup: np.ndarray, plan: BandPlan,
              band_ids: np.ndarray) -> tuple:  # fmt: skip
    """Bucket and compare the bands ``band_ids`` (``(k,)`` int64) of ``plan``, one thread.

    Returns ``(left, right, scores, comparisons, skipped)``; a pair is reported only by
    the first band its bits agree in, so the bands can be split among threads or
    machines and the parts concatenated (``merge_bands``).
    """
    return _run_bands(
        clks.words, clks.popcounts, body.astype(np.int64), dedup.astype(np.bool_),
        plan.bits, plan.masks, np.asarray(band_ids, np.int64), plan.threshold,
        plan.max_bucket, plan.table_bits,
    )  # fmt: skip


def merge_bands(plan: BandPlan, results: list[tuple]) -> BlockedPairs:
    """The candidate pairs of a run from the ``run_bands`` results of all its bands."""
    return BlockedPairs(
        left=np.concatenate([x[0] for x in results]),
        right=np.concatenate([x[1] for x in results]),
        scores=np.concatenate([x[2] for x in results]),
        comparisons=int(sum(x[3] for x in results)),
        skipped_buckets=int(sum(x[4] for x in results)),
        bits_per_band=plan.bits_per_band,
        bands=plan.bands,
    )
