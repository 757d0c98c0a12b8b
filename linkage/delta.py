"""Incremental linkage whose cost follows the delta.

A full run compares every pair of records; most of them were already compared by the
previous run. This module keeps what a run found — every scored candidate pair at or
above the threshold, as record keys and scores (``PairState``) — and links the next
upload by comparing only the records that are new or changed against all current records:

1. ``match_records`` — each current record is found in the previous state by its key
   (body, ref) and a 64-bit digest of its CLK (``clk_digest``); a record whose key is
   absent (new) or whose digest differs (changed) is in the *delta*; previous records
   absent now were deleted.
2. kept pairs — the previous pairs whose two records are both still present and
   unchanged, renumbered to the current global indices (old × old is never compared);
3. new pairs — delta × all current records, with the same Dice kernel and the same
   ``>= threshold`` rule as a full run (``similarity.dice_pairs``), one body pair at a time;
4. clustering, the twin move and review of the union of pairs by ``engine.decide``, the
   very function ``engine.link`` ends with, with the current must/cannot-link constraints.

Why the result equals a full re-link: with exhaustive comparison a full run's candidate
pairs are exactly the pairs of current records with Dice ``>= threshold``. A pair of two
unchanged records scored the same last time (same CLKs, same arithmetic), and it was in
the previous state because that state was itself complete; every other pair touches the
delta and is compared now. So the clustering sees the same pairs, with the same global
indices and scores, and greedy clustering and review (which depend only on those) give the
same groups, flags and risks. When the state is not complete (the previous run used LSH
blocking, as full runs above ``engine.EXHAUSTIVE_BUDGET`` pairs do), the kept pairs are
the ones that LSH run found and the delta pairs are all found (exhaustive); a full LSH
re-link could differ by pairs near the threshold that one LSH draw finds and another
misses (see docs/engine.md).

Constraints (must/cannot-link from people's review) are applied at clustering, not
stored: a change in them needs no full run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from linkage.container import REF_BYTES
from linkage.engine import DEFAULT_REVIEW_MARGIN, LinkResult, _validate, decide
from linkage.errors import LinkageError
from linkage.packed import PackedClks, pack
from linkage.similarity import dice_pairs
from linkage.threshold import ScoreModel

STATE_VERSION = 1
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def clk_digest(rows: np.ndarray) -> np.ndarray:
    """A 64-bit digest of each CLK (splitmix64 mixing of its words).

    Args:
        rows: ``(n, nbytes)`` uint8 CLKs, ``nbytes`` a multiple of 8.

    Returns:
        ``(n,)`` uint64; equal CLKs give equal digests, a changed CLK a different one
        except with probability about 2⁻⁶⁴.
    """
    if rows.ndim != 2 or rows.dtype != np.uint8 or rows.shape[1] % 8:
        raise LinkageError("CLKs must be a 2-D uint8 array with a multiple of 8 bytes a row")
    words = np.ascontiguousarray(rows).view("<u8")
    h = np.full(rows.shape[0], np.uint64(rows.shape[1]), np.uint64)
    for w in range(words.shape[1]):
        h = (h ^ words[:, w]) + _GOLDEN
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
        h ^= h >> np.uint64(31)
    return h


@dataclass(frozen=True)
class PairState:
    """What one run leaves for the next: its records' keys and its candidate pairs.

    Attributes:
        bodies: body names; ``body`` indexes into them.
        body: ``(n,)`` int16 body of each record of the run.
        refs: ``(n, 16)`` uint8 ref of each record.
        digest: ``(n,)`` uint64 ``clk_digest`` of each record's CLK.
        left, right: ``(m,)`` int64 record indices (``left < right``) of every pair that
            scored ``>= threshold``.
        scores: ``(m,)`` float64 their Dice scores.
        threshold: the Dice threshold of the run.
        bit_length: CLK length in bits.
        dedup: body names whose own records may share a group.
        complete: True when the pairs are *every* pair ``>= threshold`` (exhaustive
            comparison); False after LSH blocking.
    """

    bodies: tuple[str, ...]
    body: np.ndarray
    refs: np.ndarray
    digest: np.ndarray
    left: np.ndarray
    right: np.ndarray
    scores: np.ndarray
    threshold: float
    bit_length: int
    dedup: tuple[str, ...] = ()
    complete: bool = True

    def save(self, path: Path) -> None:
        """Write the state to ``path`` (``.npz``, uncompressed) atomically."""
        tmp = path.with_name(path.name + ".tmp")
        n = int(self.body.size)
        index = np.uint32 if n < 2**32 else np.int64
        with tmp.open("wb") as handle:
            np.savez(
                handle,
                version=np.int64(STATE_VERSION),
                bodies=np.array(self.bodies, dtype=str),
                dedup=np.array(self.dedup, dtype=str),
                body=self.body.astype(np.int16),
                refs=self.refs.astype(np.uint8),
                digest=self.digest.astype(np.uint64),
                left=self.left.astype(index),
                right=self.right.astype(index),
                scores=self.scores.astype(np.float64),
                threshold=np.float64(self.threshold),
                bit_length=np.int64(self.bit_length),
                complete=np.bool_(self.complete),
            )
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> PairState | None:
        """Read a state written by ``save``; None if it is missing, unreadable or of
        another format version (the caller then runs in full)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                if int(f["version"]) != STATE_VERSION:
                    return None
                return PairState(
                    bodies=tuple(str(b) for b in f["bodies"]),
                    body=f["body"].astype(np.int16),
                    refs=f["refs"],
                    digest=f["digest"],
                    left=f["left"].astype(np.int64),
                    right=f["right"].astype(np.int64),
                    scores=f["scores"],
                    threshold=float(f["threshold"]),
                    bit_length=int(f["bit_length"]),
                    dedup=tuple(str(b) for b in f["dedup"]),
                    complete=bool(f["complete"]),
                )
        except (OSError, ValueError, KeyError):
            return None


def state_of(
    bodies: Sequence[str], datasets: Sequence[np.ndarray], refs: Sequence[np.ndarray],
    result: LinkResult, *, dedup: Sequence[str] = (),
) -> PairState:  # fmt: skip
    """The state a finished run leaves (from ``engine.link`` or ``link_delta``).

    Args:
        bodies: ``(d,)`` body names, in the order of ``datasets``.
        datasets: ``(n_d, bit_length/8)`` uint8 CLKs per body.
        refs: ``(n_d, 16)`` uint8 refs per body.
        result: the run's result; its ``pairs`` must be set and its threshold fixed
            (``threshold_from_data=False``: incremental runs do not learn it).
    """
    if result.pairs is None:
        raise LinkageError("the link result carries no pairs")
    if result.threshold_source != "fixed":
        # A learned run's pairs go down to its own threshold and its review saw pairs
        # below it and a fitted score model: an incremental run, which keeps the given
        # threshold, would not equal a full run (see docs/engine.md, threshold section).
        raise LinkageError(
            "only a run with a fixed threshold (threshold_from_data=False) can seed "
            f"incremental runs; this one's threshold came from {result.threshold_source!r}"
        )
    left, right, scores = result.pairs
    keep = scores >= result.threshold
    lo = np.minimum(left[keep], right[keep])
    hi = np.maximum(left[keep], right[keep])
    sizes = [len(d) for d in datasets]
    return PairState(
        bodies=tuple(bodies),
        body=np.repeat(np.arange(len(sizes), dtype=np.int16), sizes),
        refs=np.concatenate([np.asarray(r, np.uint8).reshape(-1, REF_BYTES) for r in refs]),
        digest=np.concatenate([clk_digest(d) for d in datasets]),
        left=lo.astype(np.int64),
        right=hi.astype(np.int64),
        scores=scores[keep].astype(np.float64),
        threshold=float(result.threshold),
        bit_length=int(datasets[0].shape[1] * 8),
        dedup=tuple(sorted(dedup)),
        complete=bool(result.stats.get("exhaustive", 0.0)),
    )


def _keys(body: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """``(n, 3)`` uint64 sortable key of each record: body, ref high and low half."""
    halves = np.ascontiguousarray(refs, np.uint8).reshape(-1, REF_BYTES).view(">u8")
    return np.column_stack([body.astype(np.uint64), halves.astype(np.uint64)])


def match_records(
    old_body: np.ndarray, old_refs: np.ndarray, old_digest: np.ndarray,
    new_body: np.ndarray, new_refs: np.ndarray, new_digest: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Where each current record was in the previous state, if it is unchanged.

    Args:
        old_body, old_refs, old_digest: ``(n_old,)``, ``(n_old, 16)``, ``(n_old,)``;
            body indices must already be in the current numbering.
        new_body, new_refs, new_digest: the same for the ``n_new`` current records.

    Returns:
        ``(n_new,)`` int64: the previous index of each current record whose key and
        digest are unchanged, ``-1`` for a record that is new, ``-2`` for one whose key
        was there with another CLK (changed).
    """
    ko, kn = _keys(old_body, old_refs), _keys(new_body, new_refs)
    # Fast path: one 64-bit key (the ref's first half mixed with the body), binary search,
    # then the whole key compared. Refs are random, so that key is unique; if a body chose
    # refs that share it, the exact three-key sort below decides instead.
    po, pn = ko[:, 1] ^ (ko[:, 0] * _GOLDEN), kn[:, 1] ^ (kn[:, 0] * _GOLDEN)
    order = np.argsort(po, kind="stable")
    sorted_po = po[order]
    if not np.any(sorted_po[1:] == sorted_po[:-1]):
        qorder = np.argsort(pn)  # sorted queries: binary search stays in cache
        at = np.empty(pn.size, np.int64)
        at[qorder] = np.searchsorted(sorted_po, pn[qorder])
        at = np.minimum(at, max(po.size - 1, 0))
        where = np.full(new_body.size, -1, np.int64)
        if po.size:
            cand = order[at]
            found = np.all(ko[cand] == kn, axis=1)
            same = found & (old_digest[cand] == new_digest)
            where[found & ~same] = -2
            where[same] = cand[same]
        return where
    return _match_sorted(ko, kn, old_digest, new_digest)


def _match_sorted(ko: np.ndarray, kn: np.ndarray, old_digest: np.ndarray,
                  new_digest: np.ndarray) -> np.ndarray:  # fmt: skip
    """``match_records`` by one sort of all ``(n_old + n_new, 3)`` keys (exact)."""
    n_old = ko.shape[0]
    keys = np.concatenate([ko, kn])
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    sk = keys[order]
    same = np.all(sk[1:] == sk[:-1], axis=1)
    a, b = order[:-1][same], order[1:][same]
    old_i, new_i = np.minimum(a, b), np.maximum(a, b)
    ok = (old_i < n_old) & (new_i >= n_old)  # keys are unique within each side
    old_i, new_i = old_i[ok], new_i[ok] - n_old
    unchanged = old_digest[old_i] == new_digest[new_i]
    where = np.full(kn.shape[0], -1, np.int64)
    where[new_i[~unchanged]] = -2
    where[new_i[unchanged]] = old_i[unchanged]
    return where


@dataclass(frozen=True)
class DeltaLink:
    """An incremental run's result and the state it leaves.

    Attributes:
        result: as ``engine.link`` returns it (``pairs`` set).
        state: the state for the next run.
        stats: ``added`` (new refs), ``changed`` (same ref, other CLK), ``deleted``
            (previous records absent now), ``delta`` (added + changed), ``kept_pairs``
            (previous pairs reused), ``dropped_pairs`` (previous pairs touching a deleted
            or changed record), ``new_pairs``, ``comparisons``, ``seconds_match``,
            ``seconds_compare``, ``seconds_cluster``, ``seconds_total``.
    """

    result: LinkResult
    state: PairState
    stats: dict[str, float] = field(default_factory=dict)


def _compare(
    clks: PackedClks, whole: list[PackedClks], body_rows: list[np.ndarray],
    delta_rows: list[np.ndarray], is_delta: np.ndarray, dedup: np.ndarray,
    threshold: float, workers: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:  # fmt: skip
    """Every pair with a delta record, ``>= threshold``, each once (global indices).

    ``clks``: all ``n`` records; ``whole[d]``: body ``d``'s records (``n_d``);
    ``body_rows[d]``: ``(n_d,)`` their global indices; ``delta_rows[d]`` those of its
    delta records; ``is_delta``: ``(n,)`` bool.
    """
    lefts, rights, scores = [], [], []
    comparisons = 0
    n_bodies = len(body_rows)
    for a in range(n_bodies):
        if delta_rows[a].size == 0:
            continue
        mine = clks.take(delta_rows[a])
        for b in range(n_bodies):
            if a == b and not dedup[a]:
                continue
            res = dice_pairs(mine, whole[b], threshold, workers=workers, sort=False)
            comparisons += res.comparisons
            x = delta_rows[a][res.left]
            y = body_rows[b][res.right]
            # A pair of two delta records is found from both sides: keep it once, from
            # the side of its smaller index (and never a record with itself).
            keep = ~is_delta[y] | (x < y)
            x, y = x[keep], y[keep]
            lefts.append(np.minimum(x, y))
            rights.append(np.maximum(x, y))
            scores.append(res.scores[keep])
    if not lefts:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy(), np.zeros(0, np.float64), comparisons
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(scores), comparisons


def link_delta(
    bodies: Sequence[str],
    datasets: Sequence[np.ndarray],
    refs: Sequence[np.ndarray],
    previous: PairState,
    *,
    threshold: float,
    dedup: Sequence[bool] | None = None,
    review_margin: float = DEFAULT_REVIEW_MARGIN,
    workers: int | None = None,
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    decided: np.ndarray | None = None,
) -> DeltaLink:
    """Link the current records reusing the previous run's pairs (see the module docstring).

    Args:
        bodies: ``(d,)`` body names, in the order of ``datasets``.
        datasets: one ``(n_d, bit_length/8)`` uint8 array per body, as for ``engine.link``.
        refs: one ``(n_d, 16)`` uint8 array of refs per body (unique within a body).
        previous: the state the previous run left; it must have the same threshold and
            bit length (``compatible`` says whether it does).
        threshold, dedup, review_margin, workers, must_link, cannot_link, decided: as for
            ``engine.link`` (the threshold is fixed: incremental runs do not learn it).

    Raises:
        LinkageError: on the errors ``engine.link`` raises, or a state that does not fit.
    """
    t0 = time.perf_counter()
    if len(bodies) != len(datasets) or len(refs) != len(datasets):
        raise LinkageError("bodies, datasets and refs must have one entry per body")
    dedup_arr = np.asarray([bool(x) for x in (dedup or [False] * len(datasets))], bool)
    if dedup_arr.size != len(datasets):
        raise LinkageError(f"dedup has {dedup_arr.size} entries for {len(datasets)} datasets")
    bit_length = _validate(datasets, threshold, single_ok=bool(dedup_arr.all()))
    if not compatible(previous, threshold=threshold, bit_length=bit_length,
                      dedup=[b for b, d in zip(bodies, dedup_arr, strict=True) if d]):  # fmt: skip
        raise LinkageError("the previous state has another threshold, bit length or dedup")
    if not 0 <= review_margin < 1:
        raise LinkageError(f"review_margin {review_margin} is outside [0, 1)")
    sizes = np.array([len(d) for d in datasets], np.int64)
    for d, (r, s) in enumerate(zip(refs, sizes, strict=True)):
        if np.asarray(r).reshape(-1, REF_BYTES).shape[0] != s:
            raise LinkageError(f"body {bodies[d]}: {s} CLKs but a different number of refs")
    n = int(sizes.sum())
    body = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    cur_refs = np.concatenate([np.asarray(r, np.uint8).reshape(-1, REF_BYTES) for r in refs])
    digest = np.concatenate([clk_digest(d) for d in datasets])

    # 1. match: previous body numbering → current (a body absent now maps to -1).
    renumber = np.array([bodies.index(b) if b in bodies else -1 for b in previous.bodies],
                        np.int64)  # fmt: skip
    old_body = renumber[previous.body.astype(np.int64)] if previous.body.size else \
        np.zeros(0, np.int64)  # fmt: skip
    present = old_body >= 0
    where = match_records(
        old_body[present], previous.refs[present], previous.digest[present],
        body, cur_refs, digest,
    )  # fmt: skip
    old_index = np.flatnonzero(present)
    new_of_old = np.full(previous.body.size, -1, np.int64)
    kept_new = np.flatnonzero(where >= 0)
    new_of_old[old_index[where[kept_new]]] = kept_new
    is_delta = where < 0
    changed = int(np.count_nonzero(where == -2))
    t1 = time.perf_counter()

    # 2. kept pairs; 3. new pairs (delta × all).
    pl, pr = new_of_old[previous.left], new_of_old[previous.right]
    alive = (pl >= 0) & (pr >= 0) & (previous.scores >= threshold)
    kl, kr = np.minimum(pl[alive], pr[alive]), np.maximum(pl[alive], pr[alive])
    ks = previous.scores[alive]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    packed = [pack(d) for d in datasets]
    clks = PackedClks(np.concatenate([p.words for p in packed]),
                      np.concatenate([p.popcounts for p in packed]), bit_length)  # fmt: skip
    body_rows = [np.arange(o, o + s, dtype=np.int64) for o, s in zip(offsets, sizes, strict=True)]
    delta_rows = [rows[is_delta[rows]] for rows in body_rows]
    nl, nr, ns, comparisons = _compare(
        clks, packed, body_rows, delta_rows, is_delta, dedup_arr, float(threshold), workers
    )
    left = np.concatenate([kl, nl])
    right = np.concatenate([kr, nr])
    scores = np.concatenate([ks, ns])
    order = np.lexsort((right, left))
    left, right, scores = left[order], right[order], scores[order]
    t2 = time.perf_counter()

    # 4. cluster, move, review: engine.decide, the same code as a full run.
    model = ScoreModel(float(threshold), "fixed", float(threshold))
    dec = decide(n, left, right, scores, body, dedup_arr, model, review_margin=review_margin,
                 must_link=must_link, cannot_link=cannot_link, decided=decided,
                 clks=clks)  # fmt: skip
    t3 = time.perf_counter()

    complete = previous.complete
    stats = {
        "floor_pairs": float(left.size),
        "comparisons": float(comparisons),
        "exhaustive": float(complete),
        **dec.stats,
        "seconds_total": t3 - t0,
    }
    group_of = [dec.group_of[o : o + s].copy() for o, s in zip(offsets, sizes, strict=True)]
    result = LinkResult(
        group_of=group_of, n_groups=dec.n_groups, review=dec.review, stats=stats,
        review_risk=dec.review_risk, review_order=dec.review_order, threshold=float(threshold),
        threshold_source="fixed", pairs=(left, right, scores),
    )  # fmt: skip
    state = PairState(
        bodies=tuple(bodies), body=body.astype(np.int16), refs=cur_refs, digest=digest,
        left=left, right=right, scores=scores, threshold=float(threshold),
        bit_length=bit_length, dedup=previous.dedup, complete=complete,
    )  # fmt: skip
    delta = int(np.count_nonzero(is_delta))
    delta_stats = {
        "added": float(delta - changed),
        "changed": float(changed),
        "deleted": float(previous.body.size - kept_new.size - changed),
        "delta": float(delta),
        "kept_pairs": float(kl.size),
        "dropped_pairs": float(previous.left.size - kl.size),
        "new_pairs": float(nl.size),
        "comparisons": float(comparisons),
        "seconds_match": t1 - t0,
        "seconds_compare": t2 - t1,
        "seconds_cluster": t3 - t2,
        "seconds_total": t3 - t0,
    }
    return DeltaLink(result, state, delta_stats)


def compatible(state: PairState, *, threshold: float, bit_length: int,
               dedup: Sequence[str]) -> bool:  # fmt: skip
    """True when ``state`` can seed an incremental run with these settings: same
    threshold, CLK length and deduplicating bodies (a body that joins or leaves the
    project is fine: its records are simply new or deleted)."""
    return (
        float(state.threshold) == float(threshold)
        and int(state.bit_length) == int(bit_length)
        and tuple(sorted(state.dedup)) == tuple(sorted(dedup))
    )
