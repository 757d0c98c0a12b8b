"""Multi-party clustering of scored candidate pairs into groups.

Greedy by descending score (ties: lower indices first): a pair joins the groups of its
two records unless the merged group would hold two records of one body (bodies with
deduplication switched on may repeat). Ambiguity is surfaced instead of decided by a
coin toss: when record ``x`` is about to join ``y`` (body ``B``) but ``x`` has another
candidate ``z`` in body ``B`` scoring within ``review_margin`` of the pair, and ``z``
could still join ``x`` too, the pair is not merged and the groups of ``x``, ``y`` and
``z`` are flagged for review. The same check runs from ``y``'s side. Twins are the typical
case: the two siblings of one body score almost equally against one record of another.
With the CLKs given (``alike_from``), ``z`` is a rival also when ``y`` and ``z`` are
nearly the same record (twins of one name: their Dice at least ``ALIKE_FROM`` and at least
the pair's score), however far apart ``x``'s scores with them are: those differ then only
by which optional fields each export filled.
A tie left open stays open: while ``x``'s partner in ``B`` is undecided, no later (lower)
pair may put ``x`` into a group holding a record of ``B`` (it is refused, ``x``'s group
flagged). Otherwise ``x`` would reach a rival's group (or another group holding a ``B``
record) through a member of another body, the tie settled by a weaker link. On the kawase
towns this kept poor records out of strangers' groups: fewer wrong merges, and more of the
errors left on the review list (docs/benchmarks.md, stop 22).

Known answers from people (the coordinator's recorded review outcomes) go in as
constraints: ``must_link`` pairs are joined before any scored pair (still at most one
record per body), ``cannot_link`` pairs are never put in one group (nor is a record kept
apart from ``x`` counted as ``x``'s near-tie rival), and ``decided``
records no longer flag their group for review, so a question answered once is not asked
again. A constraint that contradicts another (or the one-record-per-body rule) is not
applied and is counted in ``Clustering.conflicts``.

Deduplicating bodies have no one-record-per-body rule to stop a chain (``a``–``b``,
``b``–``c``, … each above the threshold while ``a`` and ``c`` are strangers), so a merge
that would put two records of one such body into one group must be *supported*: at
least half of the pairs between the two groups score at or above the run's *support
floor*. Two groups of one person's duplicates score high on most of their pairs; a
stranger reached through one good-looking pair does not. With the records' CLKs given
(``clks``; ``engine.decide`` passes them), every pair between the two groups is scored
exactly on demand, so the candidate stages keep only pairs at or above the threshold, and
the floor is ``support_floor``: down to ``SUPPORT_MARGIN`` (0.10) below the threshold, but
never below the typical score of two unrelated records plus ``SUPPORT_SPREADS`` (5) of
their spreads (median and MAD of a fixed sample of the run's own record pairs), so
duplicates that each differ from their original in their own way (a star: copy–copy
pairs a little below the threshold) are one group, while where strangers score close to
the threshold the floor stays at it. Without CLKs the pairs given are counted (pairs not
given do not support) from ``floor``, default the threshold. Merges that repeat no body
(every merge of a run without dedup bodies) are not checked, so those runs are grouped
exactly as before. The groups on both sides of a refused merge get ``review=True`` (a
stranger kept out, or one person's records left in two groups: a person decides).
``Clustering.support`` keeps, per group, the lowest support any of its checked merges had
(1.0 where none was checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from linkage.errors import LinkageError
from linkage.packed import PackedClks
from linkage.similarity import _popcount
from linkage.threshold import BELOW

MAX_BODIES = 62
DEDUP_SUPPORT = 0.5
"""Share of the pairs between two groups that must *support* a merge (score at least the
run's support floor, ``support_floor``) before it may put two records of one
deduplicating body together."""
ALIKE_FROM = 0.9
"""Two records of one body at this Dice or above are nearly the same record (``cluster``'s
``alike_from``): on the ``kawase`` towns (``children-v2``) the records of twins with
different given names score 0.62–0.94 with each other, 99 % of them below 0.89 (seed 3),
while twins registered under one name (seed 9) score 0.93–0.94 — only optional fields
(通称, roman name) tell their records apart, so which twin another body's record joins
would be decided by which optional fields each export happened to fill."""
SUPPORT_MARGIN = BELOW
"""The support floor lies at most this far below the run's threshold: ``threshold.BELOW``
(0.10), the band below the schema's threshold in which the engine already accepts that
true matches may score (the learned threshold may lie anywhere in it)."""
SUPPORT_SPREADS = 5.0
"""... and never below the typical score of two unrelated records plus this many of their
spreads: the median Dice of a sample of the run's record pairs (nearly all strangers) plus
five times ``1.4826 * MAD`` (the standard deviation, were the scores normal). Median and
MAD hardly move with a share of duplicates in the sample or with the noise of its tail.
Were their scores normal, fewer than one stranger pair in a million would reach it;
measured, the score one sampled pair in a thousand reaches lies 3.3 to 4.4 spreads above
the median (FEBRL's schema and both municipal generators)."""
SUPPORT_MIN_RECORDS = 100
"""Runs with fewer records say too little about strangers: their floor is the threshold."""
SUPPORT_SAMPLE = 1 << 20
"""Record pairs drawn (with a fixed seed, so every run over the same records draws the
same ones) to estimate that score."""
_SAMPLE_SEED = 0x5EED


@dataclass(frozen=True)
class Clustering:
    """Groups of records.

    Attributes:
        group_of: ``(n,)`` int64 group of each global record index, ``0 .. n_groups-1``,
            numbered in order of each group's first record.
        n_groups: number of groups (singletons included).
        review: ``(n_groups,)`` bool, True where an ambiguous pair touched the group, or
            where a merge of deduplicating records was refused for lack of support.
        merges: number of accepted pairs.
        ambiguous: number of pairs left unmerged because they were ambiguous.
        conflicts: number of ``must_link`` pairs that could not be applied.
        refused: number of merges of deduplicating records refused for lack of support.
        support: ``(n_groups,)`` float64, the lowest share of supporting pairs (scoring
            at least ``floor``) between the two sides of any merge that repeated a
            deduplicating body in the group (1.0 where no such merge happened).
        floor: the score from which a pair supported such a merge (the threshold in
            runs without a deduplicating body).
        refused_same: number of merges of deduplicating records refused because no
            pair of the repeated body's records across the two groups reached
            ``same_floor``.
    """

    group_of: np.ndarray
    n_groups: int
    review: np.ndarray
    merges: int
    ambiguous: int
    conflicts: int = 0
    refused: int = 0
    support: np.ndarray | None = None
    floor: float = 0.0
    refused_same: int = 0


@numba.njit(cache=True, inline="always")
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@numba.njit(cache=True)
def _rival(x, y, s, adj_start, adj_node, adj_score, body, parent, mask, fixed, margin, t,
           words, popcounts, alike_from, cl_left, cl_right, has_cl):  # fmt: skip
    """A candidate ``z`` of ``x`` in ``y``'s body (scoring ``>= t``) that could also join
    and that ``x`` cannot tell from ``y``: it scores within ``margin`` of ``s`` (or
    higher), or — with the CLKs given (``words``) — ``y`` and ``z`` are nearly the same
    record (Dice(y, z) >= ``alike_from``) and more alike than ``x`` and ``y`` are
    (Dice(y, z) >= s). A ``z`` that people said is not ``x``'s person (a cannot-link
    between their groups) could not join, so it is no rival. -1 if none."""
    rx = _find(parent, x)
    ry = _find(parent, y)
    alike = words.shape[0] > 0 and alike_from <= 1.0
    for p in range(adj_start[x], adj_start[x + 1]):
        sz = adj_score[p]
        if sz < t:
            break
        close = sz >= s - margin
        if not close and not alike:
            break
        z = adj_node[p]
        if z == y or body[z] != body[y]:
            continue
        rz = _find(parent, z)
        if rz == rx or rz == ry:  # noqa: SIM109 (numba-friendly)
            continue
        if (mask[rx] & mask[rz] & ~fixed) == 0 and not _kept_apart(
            rx, rz, parent, cl_left, cl_right, has_cl
        ):
            if close:
                return z
            d = _dice_one(words, popcounts, y, z)
            if d >= alike_from and d >= s:
                return z
    return -1


@numba.njit(cache=True, nogil=True)
def _dice_one(words, popcounts, a, b):
    """Exact Dice of records ``a`` and ``b`` (the arithmetic of ``similarity``)."""
    c = 0
    for w in range(words.shape[1]):
        c += _popcount(words[a, w] & words[b, w])
    d = popcounts[a] + popcounts[b]
    return 2.0 * c / d if d > 0 else 0.0


@numba.njit(cache=True)
def _support(rx, ry, parent, size, ring, adj_start, adj_node, adj_score, t):
    """Listed pairs ``>= t`` between the groups of roots ``rx`` and ``ry``, counted from
    the smaller group's members (``ring``: each record's next member, circular)."""
    if size[rx] > size[ry]:
        rx, ry = ry, rx
    count = 0
    x = rx
    while True:
        for p in range(adj_start[x], adj_start[x + 1]):
            if adj_score[p] < t:
                break
            z = adj_node[p]
            if _find(parent, z) == ry:
                count += 1
        x = ring[x]
        if x == rx:
            break
    return count


@numba.njit(cache=True)
def _support_clks(rx, ry, size, ring, words, popcounts, t, need):
    """Pairs between the groups of roots ``rx`` and ``ry`` whose exact Dice (from the
    packed CLKs, the arithmetic of ``similarity``) is ``>= t``: every member of one group
    against every member of the other. Stops early once fewer than ``need`` pairs can be
    reached (the merge is refused either way); an accepted merge counts every pair."""
    total = size[rx] * size[ry]
    count = 0
    seen = 0
    x = rx
    while True:
        y = ry
        while True:
            if _dice_one(words, popcounts, x, y) >= t:
                count += 1
            seen += 1
            if count + (total - seen) < need:
                return count
            y = ring[y]
            if y == ry:
                break
        x = ring[x]
        if x == rx:
            break
    return count


@numba.njit(cache=True)
def _best_same_body(rx, ry, b, body, ring, words, popcounts, adj_start, adj_node,
                    adj_score, parent):  # fmt: skip
    """The highest score of a pair of records of body ``b`` across the groups of roots
    ``rx`` and ``ry``: exact Dice from the CLKs (``words``) when given, else the listed
    pairs (-1 when none is listed)."""
    best = -1.0
    x = rx
    while True:
        if body[x] == b:
            if words.shape[0] > 0:
                y = ry
                while True:
                    if body[y] == body[x]:
                        best = max(best, _dice_one(words, popcounts, x, y))
                    y = ring[y]
                    if y == ry:
                        break
            else:
                for p in range(adj_start[x], adj_start[x + 1]):
                    z = adj_node[p]
                    if body[z] == body[x] and _find(parent, z) == ry:
                        best = max(best, adj_score[p])
                        break  # the list is best first
        x = ring[x]
        if x == rx:
            break
    return best


@numba.njit(cache=True, nogil=True)
def _dice_of(words, popcounts, a, b):
    """Exact Dice of the record pairs ``a[i]``–``b[i]``."""
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = _dice_one(words, popcounts, a[i], b[i])
    return out


def support_floor(clks: PackedClks, threshold: float) -> float:
    """The lowest score at which a pair supports a merge that repeats a deduplicating body:
    ``threshold - SUPPORT_MARGIN``, raised to ``median + SUPPORT_SPREADS * 1.4826 * MAD``
    of the Dice of ``SUPPORT_SAMPLE`` record pairs drawn with a fixed seed (nearly all
    strangers), and never above ``threshold``; the threshold itself for runs of fewer
    than ``SUPPORT_MIN_RECORDS`` records or when most sampled pairs score alike (no
    spread).

    Where strangers score close to the threshold (the municipal encoding is balanced to
    half ones: strangers at 0.50 ± 0.03, threshold 0.6, about four spreads apart) the floor
    stays at the threshold, so the rule is what it was; where they score far below it
    (FEBRL's schema: strangers at 0.66 ± 0.024, threshold 0.8, six spreads) pairs a little
    below the threshold count. Depends only on the CLKs in global order, so full,
    incremental and Dask runs of the same records agree.
    """
    n = len(clks)
    t = float(threshold)
    if n < SUPPORT_MIN_RECORDS:
        return t
    rng = np.random.default_rng(_SAMPLE_SEED)
    a = rng.integers(0, n, SUPPORT_SAMPLE)
    b = rng.integers(0, n - 1, SUPPORT_SAMPLE)
    b += b >= a  # a pair of two different records
    scores = _dice_of(np.ascontiguousarray(clks.words),
                      np.ascontiguousarray(clks.popcounts, np.int32), a, b)  # fmt: skip
    middle = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - middle)))
    if spread == 0:  # most sampled pairs score alike: no estimate of the spread
        return t
    return min(t, max(t - SUPPORT_MARGIN, middle + SUPPORT_SPREADS * spread))


@numba.njit(cache=True)
def _kept_apart(rx, ry, parent, cl_left, cl_right, has_cl):
    """True when a cannot-link pair has one record in group ``rx`` and one in ``ry``."""
    if not (has_cl[rx] and has_cl[ry]):
        return False
    for i in range(cl_left.shape[0]):
        a = _find(parent, cl_left[i])
        b = _find(parent, cl_right[i])
        if (a == rx and b == ry) or (a == ry and b == rx):
            return True
    return False


@numba.njit(cache=True, inline="always")
def _join(rx, ry, parent, mask, has_cl, size, ring, support):
    """Group ``ry`` into ``rx`` (both roots)."""
    parent[ry] = rx
    mask[rx] |= mask[ry]
    has_cl[rx] |= has_cl[ry]
    size[rx] += size[ry]
    ring[rx], ring[ry] = ring[ry], ring[rx]
    support[rx] = min(support[rx], support[ry])


@numba.njit(cache=True)
def _greedy(n, left, right, scores, body, dedup_bits, adj_start, adj_node, adj_score, margin,
            t, ml_left, ml_right, cl_left, cl_right, need, t_support, words,
            popcounts, alike_from, same_floor):  # fmt: skip
    parent = np.arange(n)
    mask = np.empty(n, np.int64)
    for x in range(n):
        mask[x] = np.int64(1) << body[x]
    has_cl = np.zeros(n, np.bool_)
    for i in range(cl_left.shape[0]):
        has_cl[cl_left[i]] = True
        has_cl[cl_right[i]] = True
    flagged = np.zeros(n, np.bool_)
    size = np.ones(n, np.int64)
    ring = np.arange(n)
    support = np.ones(n)
    refused = 0
    refused_same = 0
    same_on = same_floor.shape[0] > 0 and same_floor.min() <= 1.0
    # A refused merge of two unchanged groups is refused again: (root, root, size, size)
    # names them (a group keeps its root and size until it grows).
    refusals = {(np.int64(-1), np.int64(-1), np.int64(0), np.int64(0))}
    merges = 0
    ambiguous = 0
    conflicts = 0
    # Per record, as a bitmask: the bodies in which a near-tie left its partner open.
    tie_open = np.zeros(n, np.int64)
    for e in range(ml_left.shape[0]):
        rx = _find(parent, ml_left[e])
        ry = _find(parent, ml_right[e])
        if rx == ry:
            continue
        if (mask[rx] & mask[ry] & ~dedup_bits) != 0 or _kept_apart(
            rx, ry, parent, cl_left, cl_right, has_cl
        ):
            conflicts += 1
            continue
        _join(rx, ry, parent, mask, has_cl, size, ring, support)
    for e in range(left.shape[0]):
        x = left[e]
        y = right[e]
        s = scores[e]
        if s < t:
            break
        rx = _find(parent, x)
        ry = _find(parent, y)
        if rx == ry or (mask[rx] & mask[ry] & ~dedup_bits) != 0:
            continue
        if _kept_apart(rx, ry, parent, cl_left, cl_right, has_cl):
            continue
        repeated = mask[rx] & mask[ry] & dedup_bits
        if same_on and repeated != 0:
            # Two records of one deduplicating body must themselves score like one
            # person's (siblings in one body score above the threshold too); below that
            # the pair is two children, as a pair below the threshold is, before any
            # near-tie is weighed. Not flagged: the review weighs such pairs with the
            # body's own share of repeats (``review.review_groups``' ``same_body``).
            alike = True
            for b in range(same_floor.shape[0]):
                if (repeated >> b) & 1 and same_floor[b] <= 1.0:
                    best = _best_same_body(rx, ry, b, body, ring, words, popcounts,
                                           adj_start, adj_node, adj_score, parent)  # fmt: skip
                    if best < same_floor[b]:
                        alike = False
                        break
            if not alike:
                refused_same += 1
                continue
        if margin > 0:
            # A record whose partner in body B a near-tie left open does not get one
            # through any lower link, e.g. to a rival's group through a member of another
            # body. Only that record's group is flagged: the other side is a stranger kept
            # out, or one of the rivals already flagged.
            open_x = (tie_open[x] & mask[ry]) != 0
            open_y = (tie_open[y] & mask[rx]) != 0
            if open_x or open_y:
                flagged[x] |= open_x
                flagged[y] |= open_y
                ambiguous += 1
                continue
            z = -1
            tied = -1
            if (dedup_bits >> body[y]) & 1 == 0:
                z = _rival(x, y, s, adj_start, adj_node, adj_score, body, parent, mask,
                           dedup_bits, margin, t, words, popcounts, alike_from, cl_left,
                           cl_right, has_cl)  # fmt: skip
                tied = x
            if z < 0 and (dedup_bits >> body[x]) & 1 == 0:
                z = _rival(y, x, s, adj_start, adj_node, adj_score, body, parent, mask,
                           dedup_bits, margin, t, words, popcounts, alike_from, cl_left,
                           cl_right, has_cl)  # fmt: skip
                tied = y
            if z >= 0:
                flagged[x] = True
                flagged[y] = True
                flagged[z] = True
                ambiguous += 1
                tie_open[tied] |= np.int64(1) << body[z]
                continue
        if (mask[rx] & mask[ry] & dedup_bits) != 0:
            # Two records of one deduplicating body: most pairs across must support it.
            lo, hi = min(rx, ry), max(rx, ry)
            key = (lo, hi, size[lo], size[hi])
            total = size[rx] * size[ry]
            if key in refusals:
                agree = -1
            elif words.shape[0] > 0:
                agree = _support_clks(rx, ry, size, ring, words, popcounts, t_support,
                                      need * total)  # fmt: skip
            else:
                agree = _support(rx, ry, parent, size, ring, adj_start, adj_node, adj_score,
                                 t_support)  # fmt: skip
            share = agree / total
            if agree < need * total:
                refusals.add(key)
                # A refused merge is either a stranger kept out or one person's records
                # left in two groups: a person decides (review evidence).
                flagged[x] = True
                flagged[y] = True
                refused += 1
                continue
            support[rx] = min(support[rx], share)
        _join(rx, ry, parent, mask, has_cl, size, ring, support)
        merges += 1
    roots = np.empty(n, np.int64)
    for x in range(n):
        roots[x] = _find(parent, x)
    for x in range(n):
        support[x] = support[roots[x]]
    return roots, flagged, merges, ambiguous, conflicts, refused, refused_same, support


def _index_pairs(pairs: tuple[np.ndarray, np.ndarray] | None, n: int, what: str):
    if pairs is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = np.asarray(pairs[0], np.int64).ravel()
    b = np.asarray(pairs[1], np.int64).ravel()
    if a.shape != b.shape:
        raise LinkageError(f"{what}: the two index arrays differ in length")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise LinkageError(f"{what}: record indices must lie in 0 .. {n - 1}")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def cluster(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    scores: np.ndarray,
    body: np.ndarray,
    *,
    dedup: np.ndarray | None = None,
    review_margin: float = 0.0,
    threshold: float = 0.0,
    must_link: tuple[np.ndarray, np.ndarray] | None = None,
    cannot_link: tuple[np.ndarray, np.ndarray] | None = None,
    decided: np.ndarray | None = None,
    support: float = DEDUP_SUPPORT,
    clks: PackedClks | None = None,
    floor: float | None = None,
    alike_from: float | None = None,
    same_floor: float | np.ndarray | None = None,
) -> Clustering:
    """Group ``n`` records from scored pairs.

    Args:
        n: number of records (global indices ``0 .. n-1``).
        left, right, scores: ``(m,)`` candidate pairs (int64, int64, float64), any order.
        body: ``(n,)`` int64 body of each record (``0 .. n_bodies-1``, at most 62 bodies).
        dedup: ``(n_bodies,)`` bool, True where a body's own records may share a group.
        review_margin: score margin under which two rival candidates make a pair
            ambiguous; 0 turns the check off.
        threshold: pairs scoring below it are never merged (nor count as rivals); they
            may be given to keep the neighbourhood of each record for review.
        must_link: ``(left, right)`` record indices known to be the same person: joined
            first, unless that would put two records of one body together or join a
            ``cannot_link`` pair (counted in ``conflicts``).
        cannot_link: ``(left, right)`` record indices known to be different people:
            never in one group.
        decided: ``(n,)`` bool, True for records a person has already reviewed; they do
            not flag their group for review again.
        support: share (0–1) of the pairs between two groups that must support a merge
            that repeats a deduplicating body; 0 turns the check off (connected
            components within those bodies).
        clks: the ``n`` records' packed CLKs, in global index order. Given, the support
            of a merge is counted from the exact Dice of *every* pair between the two
            groups, computed here, so no stage before needs to keep pairs below the
            threshold; without it, from the pairs given (pairs not given count as not
            supporting). ``engine.decide`` passes them for runs with a dedup body.
        floor: a pair supports such a merge when it scores at least ``floor`` (at most
            ``threshold``); default ``support_floor(clks, threshold)`` with ``clks``, else
            ``threshold``.
        alike_from: with ``clks``, two candidates of one record in one body whose own
            Dice is at least this (and at least the record's score with either) are a
            near-tie however far apart the record's scores with them are: it cannot tell
            them apart (twins of one name). ``None`` (default) turns it off;
            ``engine.decide`` passes ``ALIKE_FROM``.
        same_floor: a merge that would put two records of one deduplicating body into
            one group also needs a pair of that body's records across the two groups
            scoring at least this (exact Dice with ``clks``, else the listed pairs);
            refused otherwise (not flagged: the review list weighs such pairs). One
            value for every deduplicating body, or ``(n_bodies,)`` per body (above 1:
            no such rule for that body). ``None`` (default) turns it off;
            ``engine.decide`` passes ``threshold.same_body_floor``'s.
    """
    body = np.asarray(body, np.int64)
    n_bodies = int(body.max()) + 1 if n else 0
    if n_bodies > MAX_BODIES:
        raise LinkageError(f"at most {MAX_BODIES} bodies can be clustered, got {n_bodies}")
    if review_margin < 0:
        raise LinkageError(f"review_margin must not be negative, got {review_margin}")
    if not 0 <= support <= 1:
        raise LinkageError(f"support must lie in [0, 1], got {support}")
    if clks is not None and len(clks) != n:
        raise LinkageError(f"clks holds {len(clks)} records, expected {n}")
    if floor is not None and not 0 <= floor <= threshold:
        raise LinkageError(f"floor must lie in [0, threshold], got {floor}")
    dedup_bits = 0
    if dedup is not None:
        for d, on in enumerate(dedup):
            if on:
                dedup_bits |= 1 << d
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    scores = np.asarray(scores, np.float64)
    if dedup_bits and left.size:
        # The support count sees each pair once: keep one score per pair (the highest),
        # lower index first, so that neither the order nor the orientation of the
        # input pairs changes the result.
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        first = np.lexsort((-scores, hi, lo))
        key = lo[first] * n + hi[first]
        keep = first[np.concatenate([[True], key[1:] != key[:-1]])]
        left, right, scores = lo[keep], hi[keep], scores[keep]
    order = np.lexsort((right, left, -scores))
    left, right, scores = left[order], right[order], scores[order]
    nodes = np.concatenate([left, right])
    others = np.concatenate([right, left])
    both = np.concatenate([scores, scores])
    adj = np.lexsort((others, -both, nodes))
    adj_start = np.searchsorted(nodes[adj], np.arange(n + 1)).astype(np.int64)
    ml_left, ml_right = _index_pairs(must_link, n, "must_link")
    cl_left, cl_right = _index_pairs(cannot_link, n, "cannot_link")
    if clks is not None:
        words, popcounts = clks.words, clks.popcounts
        if floor is None and dedup_bits:
            floor = support_floor(clks, threshold)
    else:
        words, popcounts = np.zeros((0, 1), np.uint64), np.zeros(0, np.int32)
    floor = float(threshold) if floor is None or not dedup_bits else float(floor)
    if same_floor is None or not dedup_bits:
        floors = np.zeros(0)
    else:
        floors = np.asarray(same_floor, np.float64)
        if floors.ndim == 0:
            if not 0 <= floors <= 1:
                raise LinkageError(f"same_floor must lie in [0, 1], got {same_floor}")
            floors = np.full(len(dedup), float(floors))  # type: ignore[arg-type]
        elif floors.shape != (len(dedup),) or np.any(floors < 0):  # type: ignore[arg-type]
            raise LinkageError(f"same_floor must be one value or one per body (>= 0), "
                               f"got shape {floors.shape}")  # fmt: skip
    roots, flagged, merges, ambiguous, conflicts, refused, refused_same, support = _greedy(
        n, left, right, scores, body, np.int64(dedup_bits), adj_start,
        np.ascontiguousarray(others[adj]), np.ascontiguousarray(both[adj]),
        float(review_margin), float(threshold), ml_left, ml_right, cl_left, cl_right,
        float(support), floor,
        np.ascontiguousarray(words), np.ascontiguousarray(popcounts, np.int32),
        2.0 if alike_from is None else float(alike_from),
        np.ascontiguousarray(floors),
    )  # fmt: skip
    if decided is not None:
        decided = np.asarray(decided, bool)
        if decided.shape != (n,):
            raise LinkageError(f"decided must have shape ({n},), got {decided.shape}")
        flagged &= ~decided
    uniq, first, group_of = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    group_of = rank[group_of].astype(np.int64)
    review = np.zeros(uniq.size, bool)
    review[group_of[flagged]] = True
    group_support = np.ones(uniq.size)
    group_support[group_of] = support
    return Clustering(group_of, int(uniq.size), review, int(merges), int(ambiguous),
                      int(conflicts), int(refused), group_support, floor,
                      int(refused_same))  # fmt: skip


def reassign_beaten(group_of: np.ndarray, left: np.ndarray, right: np.ndarray,
                    scores: np.ndarray, body: np.ndarray, threshold: float, by: float,
                    dedup: np.ndarray | None = None, keep: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Move a record out of a group it joined through others when a record of another
    group scores clearly higher with it than its own group's record of that body does.

    Greedy clustering joins ``y`` to a group through its best pair, which may be with a
    record of the *other* twin (same name, same birth date and address, or a record
    missing its given name). Then ``y``'s direct score with the group's register record
    ``w`` is lower than with its own twin's register record ``x``, which sits in another
    group. Each such pair ``x``–``y`` (``s >= threshold``, ``s >= s_wy + by``, ``x``'s
    group lacks ``y``'s body, ``y`` not alone in its group), best first, moves ``y`` to
    ``x``'s group, at most once per record. Bodies with deduplication, and records
    where ``keep`` (``(n,)`` bool: known answers from people) is True, are left alone.

    Returns ``(group_of, moved)``: the new ``(n,)`` groups (same numbering; no group
    empties, since ``w`` stays) and the ``(n,)`` bool mask of the records moved, whose
    old and new groups should be put to a person.
    """
    group_of = np.asarray(group_of, np.int64).copy()
    fixed = np.zeros(group_of.size, bool) if keep is None else np.asarray(keep, bool)
    moved = fixed.copy()  # never moved (and not reported as moved)
    body = np.asarray(body, np.int64)
    dedup_set = {int(d) for d in np.flatnonzero(dedup)} if dedup is not None else set()
    n = group_of.size
    n_bodies = int(body.max()) + 1 if n else 1
    # Vectorised first cut: pairs between groups where y's group holds a record w of x's
    # body whose own score with y is ``by`` below the pair's (either direction).
    slot = np.full(int(group_of.max()) + 1 if n else 0, -1, np.int64).repeat(n_bodies)
    slot[group_of * n_bodies + body] = np.arange(n)
    inside = group_of[left] == group_of[right]
    key_in = np.sort(np.minimum(left, right)[inside] * n + np.maximum(left, right)[inside])
    order_in = np.argsort(np.minimum(left, right)[inside] * n + np.maximum(left, right)[inside])
    sc_in = scores[inside][order_in]

    def occupant_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        w = slot[group_of[y] * n_bodies + body[x]]
        k = np.minimum(w, y) * n + np.maximum(w, y)
        pos = np.clip(np.searchsorted(key_in, k), 0, max(key_in.size - 1, 0))
        hit = (w >= 0) & (w != x) & (key_in.size > 0)
        found = hit & (key_in[pos] == k) if key_in.size else hit
        return np.where(found, sc_in[pos] if key_in.size else 0.0, np.where(hit, 0.0, np.inf))

    between = np.flatnonzero((scores >= threshold) & ~inside)
    if between.size == 0:
        return group_of, moved & ~fixed
    lx, ry, sb = left[between], right[between], scores[between]
    cut = (sb >= occupant_score(lx, ry) + by) | (sb >= occupant_score(ry, lx) + by)
    sel = between[cut]
    if sel.size == 0:
        return group_of, moved & ~fixed
    pair_score: dict[tuple[int, int], float] = {}
    inside = np.flatnonzero(group_of[left] == group_of[right])
    for a, b, c in zip(left[inside].tolist(), right[inside].tolist(),
                       scores[inside].tolist(), strict=True):  # fmt: skip
        pair_score[(min(a, b), max(a, b))] = c
    members: dict[int, list[int]] = {}
    touched = np.unique(np.concatenate([group_of[left[sel]], group_of[right[sel]]]))
    in_touched = np.isin(group_of, touched)
    for r in np.flatnonzero(in_touched).tolist():
        members.setdefault(int(group_of[r]), []).append(r)
    # Best first; ties by record indices, so the result does not depend on pair order.
    lo_sel, hi_sel = np.minimum(left[sel], right[sel]), np.maximum(left[sel], right[sel])
    for e in sel[np.lexsort((hi_sel, lo_sel, -scores[sel]))].tolist():
        s = float(scores[e])
        for x, y in ((int(left[e]), int(right[e])), (int(right[e]), int(left[e]))):
            gx, gy = int(group_of[x]), int(group_of[y])
            if gx == gy or moved[y] or int(body[y]) in dedup_set or int(body[x]) in dedup_set:
                continue
            occupant = [w for w in members[gy] if body[w] == body[x]]
            if len(occupant) != 1 or len(members[gy]) < 2:
                continue
            w = occupant[0]
            if any(body[v] == body[y] for v in members[gx]):
                continue
            if s < pair_score.get((min(w, y), max(w, y)), 0.0) + by:
                continue
            if body_votes(y, members[gx], members[gy], body, pair_score, by,
                           left, right, scores) <= 0:  # fmt: skip
                # y's other links favour the group it is in: x's record is not enough.
                continue
            members[gy].remove(y)
            members[gx].append(y)
            group_of[y] = gx
            moved[y] = True
            for v in members[gx]:
                if v != y:
                    pair_score[(min(v, y), max(v, y))] = _score_of(v, y, left, right, scores)
            break
    return group_of, moved & ~fixed


def body_votes(y: int, to: list[int], at: list[int], body: np.ndarray,
                pair_score: dict[tuple[int, int], float], by: float, left: np.ndarray,
                right: np.ndarray, scores: np.ndarray) -> int:  # fmt: skip
    """Body by body, does ``y`` score clearly higher with group ``to`` or with ``at`` (its
    own group)? For every body other than ``y``'s that both groups hold exactly once:
    +1 when ``y``'s score with ``to``'s record is at least ``by`` above its score with
    ``at``'s, -1 the other way round. A move needs a positive total, so one weak record
    in ``y``'s group (the pair that triggered the move) cannot outvote ``y``'s strong
    links to the group's other records."""
    votes = 0
    by_body: dict[int, list[int]] = {}
    for v in at:
        if v != y:
            by_body.setdefault(int(body[v]), []).append(v)
    for k, here in by_body.items():
        if k == int(body[y]) or len(here) != 1:
            continue
        there = [u for u in to if int(body[u]) == k]
        if len(there) != 1:
            continue
        c, a = here[0], there[0]
        s_here = pair_score.get((min(c, y), max(c, y)))
        if s_here is None:
            s_here = _score_of(c, y, left, right, scores)
        s_there = _score_of(a, y, left, right, scores)
        if s_there >= s_here + by:
            votes += 1
        elif s_here >= s_there + by:
            votes -= 1
    return votes


def _score_of(a: int, b: int, left: np.ndarray, right: np.ndarray, scores: np.ndarray) -> float:
    hit = np.flatnonzero(((left == a) & (right == b)) | ((left == b) & (right == a)))
    return float(scores[hit[0]]) if hit.size else 0.0
