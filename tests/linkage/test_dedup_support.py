"""Deduplicating bodies: a merge that repeats a body must be supported by most pairs
between the two groups, so strangers are not chained together (``clustering.cluster``).
With the CLKs given, the pairs between two groups are scored exactly on demand and count
from the run's support floor (``clustering.support_floor``), a little below the threshold
where strangers score far below it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.clustering import SUPPORT_MARGIN, cluster, support_floor
from linkage.delta import link_delta, state_of
from linkage.engine import link
from linkage.errors import LinkageError
from linkage.packed import PackedClks, pack


def _pairs(edges: list[tuple[int, int, float]]):
    left, right, scores = zip(*edges, strict=True) if edges else ((), (), ())
    return np.array(left, np.int64), np.array(right, np.int64), np.array(scores, float)


def _partition(group_of: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for x, g in enumerate(group_of.tolist()):
        groups.setdefault(g, set()).add(x)
    return {frozenset(g) for g in groups.values()}


ONE_BODY = np.array([True])


def test_a_chain_of_strangers_is_not_one_group() -> None:
    # 0–1–2–…–9, each link above the threshold, no other pair: plain connected
    # components would make one group of ten.
    n = 10
    edges = [(i, i + 1, 0.95 - 0.01 * i) for i in range(n - 1)]
    c = cluster(n, *_pairs(edges), np.zeros(n, np.int64), dedup=ONE_BODY, threshold=0.8)
    sizes = np.bincount(c.group_of)
    assert sizes.max() <= 3
    assert c.refused > 0
    # Before the rule (connected components) this was one group.
    assert _partition(c.group_of) == {
        frozenset({0, 1, 2}),
        frozenset({3, 4, 5}),
        frozenset({6, 7, 8}),
        frozenset({9}),
    }


def test_two_duplicate_groups_joined_by_one_pair_stay_apart() -> None:
    # {0,1,2} and {3,4,5}: all pairs inside score 0.9; one stranger pair 2–3 scores
    # 0.88, above the threshold.
    inside = [(a, b, 0.9) for g in ((0, 1, 2), (3, 4, 5)) for a, b in itertools.combinations(g, 2)]
    c = cluster(6, *_pairs([*inside, (2, 3, 0.88)]), np.zeros(6, np.int64),
                dedup=ONE_BODY, threshold=0.8)  # fmt: skip
    assert _partition(c.group_of) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
    assert c.refused == 1
    assert c.review.all()  # both sides of the refused merge go to a person
    decided = np.zeros(6, bool)
    decided[[2, 3]] = True  # people answered for the two records of the refused pair
    again = cluster(6, *_pairs([*inside, (2, 3, 0.88)]), np.zeros(6, np.int64),
                    dedup=ONE_BODY, threshold=0.8, decided=decided)  # fmt: skip
    assert not again.review.any()


def test_a_stranger_pair_above_every_inside_pair_is_still_merged_first() -> None:
    # The known limit of merging pair by pair: when the stranger pair 2–3 is the best
    # pair of both records it joins them before either group forms, and {0,1} then
    # joins with half of its pairs across. Documented in docs/engine.md.
    inside = [(a, b, 0.9) for g in ((0, 1, 2), (3, 4, 5)) for a, b in itertools.combinations(g, 2)]
    c = cluster(6, *_pairs([*inside, (2, 3, 0.97)]), np.zeros(6, np.int64),
                dedup=ONE_BODY, threshold=0.8)  # fmt: skip
    assert _partition(c.group_of) == {frozenset({0, 1, 2, 3}), frozenset({4, 5})}


def test_a_small_true_duplicate_group_is_kept_with_missing_pairs() -> None:
    # Six records of one person (an original and five copies): the copies score high
    # with the original, and only half of the copy–copy pairs reach the threshold.
    edges = [(0, k, 0.9) for k in range(1, 6)]
    copies = list(itertools.combinations(range(1, 6), 2))
    edges += [(a, b, 0.85 if i % 2 == 0 else 0.7) for i, (a, b) in enumerate(copies)]
    c = cluster(6, *_pairs(edges), np.zeros(6, np.int64), dedup=ONE_BODY, threshold=0.8)
    assert c.n_groups == 1 and c.refused == 0 and not c.review.any()
    assert 0.5 <= c.support[0] < 1.0


def test_support_is_one_where_no_body_repeats() -> None:
    body = np.array([0, 1, 2])
    c = cluster(3, *_pairs([(0, 1, 0.9), (1, 2, 0.85)]), body, threshold=0.8)
    assert c.n_groups == 1 and c.refused == 0 and (c.support == 1.0).all()


def test_non_dedup_bodies_keep_one_record_per_group_next_to_a_dedup_body() -> None:
    # Body 0 deduplicates (records 0, 1: one child twice), body 1 does not (2, 3).
    body = np.array([0, 0, 1, 1])
    edges = _pairs([(0, 1, 0.95), (0, 2, 0.9), (1, 2, 0.9), (1, 3, 0.89), (0, 3, 0.88)])
    c = cluster(4, *edges, body, dedup=np.array([True, False]), threshold=0.8)
    assert _partition(c.group_of) == {frozenset({0, 1, 2}), frozenset({3})}


def test_pairs_below_the_threshold_do_not_support_a_merge() -> None:
    # {0,1} and {2}: 1–2 is above the threshold, 0–2 is given but below it.
    edges = _pairs([(0, 1, 0.95), (1, 2, 0.9), (0, 2, 0.79)])
    c = cluster(3, *edges, np.zeros(3, np.int64), dedup=ONE_BODY, threshold=0.8)
    assert c.n_groups == 1  # one of two cross pairs: exactly half is enough
    edges = _pairs([(0, 1, 0.95), (0, 2, 0.96), (2, 3, 0.9), (1, 3, 0.79)])
    c = cluster(4, *edges, np.zeros(4, np.int64), dedup=ONE_BODY, threshold=0.8)
    # {0,1,2} + {3}: only 2–3 of three cross pairs reaches 0.8.
    assert _partition(c.group_of) == {frozenset({0, 1, 2}), frozenset({3})}


def test_duplicate_input_pairs_count_once() -> None:
    # 2–3 given three times must not count as three supporting pairs.
    edges = [(0, 1, 0.95), (0, 2, 0.94), (2, 3, 0.9), (3, 2, 0.9), (2, 3, 0.85)]
    c = cluster(4, *_pairs(edges), np.zeros(4, np.int64), dedup=ONE_BODY, threshold=0.8)
    assert _partition(c.group_of) == {frozenset({0, 1, 2}), frozenset({3})}


def _reference(n: int, edges, body, dedup, t: float) -> set[frozenset[int]]:
    """Plain greedy (no review margin) with the support rule, written out in Python."""
    best: dict[tuple[int, int], float] = {}
    for a, b, s in edges:
        key = (min(a, b), max(a, b))
        best[key] = max(best.get(key, -1.0), s)
    return _greedy_reference(n, best, body, dedup, t, t)


def _greedy_reference(n: int, best: dict[tuple[int, int], float], body, dedup, t: float,
                      floor: float) -> set[frozenset[int]]:  # fmt: skip
    """Greedy over the pairs ``best`` (highest score first) at or above ``t``; a merge
    that repeats a deduplicating body needs half of the pairs across at or above
    ``floor`` (a pair missing from ``best`` does not count)."""
    groups = {x: {x} for x in range(n)}
    where = list(range(n))
    for (a, b), s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1])):
        if s < t or where[a] == where[b]:
            continue
        ga, gb = groups[where[a]], groups[where[b]]
        shared = {int(body[x]) for x in ga} & {int(body[x]) for x in gb}
        if any(not dedup[d] for d in shared):
            continue
        if shared:
            agree = sum(best.get((min(x, y), max(x, y)), -1.0) >= floor for x in ga for y in gb)
            if 2 * agree < len(ga) * len(gb):
                continue
        keep, gone = where[a], where[b]
        groups[keep] |= groups.pop(gone)
        for x in groups[keep]:
            where[x] = keep
    return {frozenset(g) for g in groups.values()}


@st.composite
def _instances(draw):
    n = draw(st.integers(2, 12))
    n_bodies = draw(st.integers(1, 3))
    body = np.array(draw(st.lists(st.integers(0, n_bodies - 1), min_size=n, max_size=n)))
    body[0] = n_bodies - 1  # every body index up to the largest is used by someone
    dedup = np.array(draw(st.lists(st.booleans(), min_size=n_bodies, max_size=n_bodies)))
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                     st.sampled_from([0.7, 0.8, 0.85, 0.9, 0.95]))  # fmt: skip
    # Lower index first, as the engine gives them.
    edges = [(min(a, b), max(a, b), s) for a, b, s in draw(st.lists(pair, max_size=40)) if a != b]
    return n, edges, body, dedup


@settings(max_examples=300, deadline=None)
@given(_instances(), st.randoms(use_true_random=False))
def test_matches_the_reference_and_not_the_input_order(instance, rnd) -> None:
    n, edges, body, dedup = instance
    expected = _reference(n, edges, body, dedup, 0.8)
    c = cluster(n, *_pairs(edges), body, dedup=dedup, threshold=0.8)
    assert _partition(c.group_of) == expected
    # Runs with a deduplicating body do not depend on the pairs' order or orientation;
    # runs without one break score ties by the pairs as given (unchanged behaviour).
    flip = dedup.any()
    shuffled = [(b, a, s) if flip and rnd.random() < 0.5 else (a, b, s) for a, b, s in edges]
    rnd.shuffle(shuffled)
    again = cluster(n, *_pairs(shuffled), body, dedup=dedup, threshold=0.8)
    assert _partition(again.group_of) == expected
    if not dedup.any():
        assert c.refused == 0 and (c.support == 1.0).all()


def test_engine_dedup_run_refuses_a_chain_of_clks() -> None:
    # Bit patterns built so that 0–1, 1–2, 2–3 score about 0.84 but 0–2, 1–3,
    # 0–3 fall below 0.8: a chain of four CLKs in one deduplicating body.
    rng = np.random.default_rng(5)
    width = 1024
    base = rng.random(width) < 0.5
    rows = [base.copy()]
    for _ in range(3):
        nxt = rows[-1].copy()
        on = np.flatnonzero(nxt)
        off = np.flatnonzero(~nxt)
        flip_on = rng.choice(on, size=80, replace=False)
        flip_off = rng.choice(off, size=80, replace=False)
        nxt[flip_on] = False
        nxt[flip_off] = True
        rows.append(nxt)
    clks = np.packbits(np.array(rows), axis=1)
    res = link([clks], threshold=0.8, dedup=[True], threshold_from_data=False,
               blocking="exhaustive")  # fmt: skip
    pairs = res.pairs
    assert pairs is not None
    scored = {(int(a), int(b)): s for a, b, s in zip(*pairs, strict=True)}
    assert all(scored.get((i, i + 1), 0) >= 0.8 for i in range(3))
    assert all(scored.get((i, j), 0) < 0.8 for i in range(4) for j in range(i + 2, 4))
    assert np.bincount(res.group_of[0]).max() <= 3
    assert res.stats["dedup_refused"] >= 1


def test_support_zero_is_connected_components_and_bad_values_are_refused() -> None:
    n = 6
    edges = _pairs([(i, i + 1, 0.9) for i in range(n - 1)])
    c = cluster(n, *edges, np.zeros(n, np.int64), dedup=ONE_BODY, threshold=0.8, support=0.0)
    assert c.n_groups == 1 and c.refused == 0
    with pytest.raises(LinkageError, match="support"):
        cluster(n, *edges, np.zeros(n, np.int64), dedup=ONE_BODY, support=1.5)


# -- support scored from the CLKs -----------------------------------------------------------
WIDTH = 1024


def _bits(rows: list[np.ndarray]) -> np.ndarray:
    return np.packbits(np.array(rows, dtype=np.uint8), axis=1)


def _strangers(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    # Half the bits set: two strangers score about 0.5 (sd 0.02), far below 0.8.
    return list((rng.random((n, WIDTH)) < 0.5).astype(np.uint8))


def _half(rng: np.random.Generator) -> np.ndarray:
    row = np.zeros(WIDTH, np.uint8)
    row[rng.choice(WIDTH, WIDTH // 2, replace=False)] = 1
    return row


def _star(rng: np.random.Generator, copies: int, flips: int = 72) -> list[np.ndarray]:
    """An original and ``copies`` copies, each with its own ``flips`` bits turned off and
    ``flips`` on (disjoint between copies): original–copy 1 - flips/512 (0.86), copy–copy
    1 - 2 flips/512 (0.72): a star, the copies below 0.8 with each other."""
    orig = _half(rng)
    on, off = rng.permutation(np.flatnonzero(orig)), rng.permutation(np.flatnonzero(orig == 0))
    rows = [orig]
    for k in range(copies):
        row = orig.copy()
        row[on[k * flips : (k + 1) * flips]] = 0
        row[off[k * flips : (k + 1) * flips]] = 1
        rows.append(row)
    return rows


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.sum(a & b)) / float(np.sum(a) + np.sum(b))


def test_support_floor_is_below_the_threshold_only_where_strangers_score_far_below() -> None:
    rng = np.random.default_rng(1)
    clks = pack(_bits(_strangers(rng, 3000)))
    # Strangers at 0.5 ± 0.02 (1.4826 MAD): five spreads above the median is about 0.6.
    assert support_floor(clks, 0.8) == pytest.approx(0.8 - SUPPORT_MARGIN)
    assert support_floor(clks, 0.58) == 0.58  # strangers close to the threshold: no lower
    mid = support_floor(clks, 0.65)
    assert 0.58 < mid < 0.62
    assert support_floor(clks, 0.65) == mid  # a fixed sample: the same every time
    # Too few records, or most pairs alike (no spread): the floor is the threshold.
    assert support_floor(pack(_bits(_star(rng, 3))), 0.8) == 0.8
    assert support_floor(pack(_bits(_strangers(rng, 99))), 0.8) == 0.8
    assert support_floor(pack(_bits(_star(rng, 3) * 50)), 0.8) == 0.8


def test_a_star_of_copies_is_one_group_when_scored_from_the_clks() -> None:
    rng = np.random.default_rng(2)
    star = _star(rng, 4)
    assert all(_dice(star[0], c) > 0.85 for c in star[1:])
    assert all(0.7 < _dice(a, b) < 0.8 for a, b in itertools.combinations(star[1:], 2))
    clks = _bits(star + _strangers(rng, 2000))
    res = link([clks], threshold=0.8, dedup=[True], threshold_from_data=False,
               blocking="exhaustive")  # fmt: skip
    assert res.stats["support_floor"] == pytest.approx(0.7)
    g = res.group_of[0]
    assert len(set(g[:5].tolist())) == 1 and np.bincount(g).max() == 5
    assert res.stats["dedup_refused"] == 0
    # The same pairs with the floor at the threshold (the rule before): the third and
    # fourth copies have one supporting pair of three and four and are refused.
    assert res.pairs is not None
    left, right, scores = res.pairs
    n = clks.shape[0]
    old = cluster(n, left, right, scores, np.zeros(n, np.int64), dedup=ONE_BODY,
                  threshold=0.8, clks=pack(clks), floor=0.8)  # fmt: skip
    assert np.bincount(old.group_of).max() == 3 and old.refused > 0


def test_a_chain_of_clks_among_strangers_is_still_refused() -> None:
    # Each step turns 95 bits off and 95 on: neighbours score 0.81, two steps apart
    # about 0.63, below the floor (0.70) as well as the threshold.
    rng = np.random.default_rng(3)
    rows = [_half(rng)]
    on, off = (
        rng.permutation(np.flatnonzero(rows[0])),
        rng.permutation(np.flatnonzero(rows[0] == 0)),
    )
    for k in range(5):  # fresh bits each step, so the chain never turns back
        nxt = rows[-1].copy()
        nxt[on[k * 95 : (k + 1) * 95]] = 0
        nxt[off[k * 95 : (k + 1) * 95]] = 1
        rows.append(nxt)
    assert all(_dice(rows[i], rows[i + 1]) >= 0.8 for i in range(5))
    assert all(_dice(rows[i], rows[j]) < 0.7 for i in range(6) for j in range(i + 2, 6))
    clks = _bits(rows + _strangers(rng, 2000))
    res = link([clks], threshold=0.8, dedup=[True], threshold_from_data=False,
               blocking="exhaustive")  # fmt: skip
    assert res.stats["support_floor"] == pytest.approx(0.7)
    assert np.bincount(res.group_of[0][:6]).max() <= 3
    assert res.stats["dedup_refused"] >= 1


def test_incremental_dedup_run_with_a_lower_floor_equals_a_full_relink() -> None:
    rng = np.random.default_rng(4)
    stars = [row for _ in range(5) for row in _star(rng, 4)]
    base = _bits(stars[:-3] + _strangers(rng, 1500))
    refs = [rng.integers(0, 256, (base.shape[0], 16), dtype=np.uint8)]
    first = link([base], threshold=0.8, dedup=[True], threshold_from_data=False,
                 blocking="exhaustive")  # fmt: skip
    state = state_of(["a"], [base], refs, first, dedup=["a"])
    # The last star's last three copies arrive; a stranger changes.
    more = np.concatenate([base, _bits(stars[-3:])])
    more[30] = _bits(_strangers(rng, 1))[0]
    refs2 = [np.concatenate([refs[0], rng.integers(0, 256, (3, 16), dtype=np.uint8)])]
    full = link([more], threshold=0.8, dedup=[True], threshold_from_data=False,
                blocking="exhaustive")  # fmt: skip
    inc = link_delta(["a"], [more], refs2, state, threshold=0.8, dedup=[True]).result
    assert full.stats["support_floor"] < 0.8
    assert inc.stats["support_floor"] == full.stats["support_floor"]
    assert inc.n_groups == full.n_groups
    np.testing.assert_array_equal(inc.group_of[0], full.group_of[0])
    np.testing.assert_array_equal(inc.review, full.review)
    np.testing.assert_array_equal(inc.review_risk, full.review_risk)
    # Every star is one group of five.
    g = full.group_of[0]
    n_star = len(stars) - 3
    assert all(len(set(g[k : k + 5].tolist())) == 1 for k in range(0, n_star - 5, 5))


def _reference_scored(n: int, words: np.ndarray, body, dedup, t: float,
                      floor: float) -> set[frozenset[int]]:  # fmt: skip
    """Plain greedy over every pair >= t with the support rule counting pairs >= floor,
    every score computed from the CLKs (Python)."""
    pc = [int(np.bitwise_count(w).sum()) for w in words]

    def dice(a: int, b: int) -> float:
        d = pc[a] + pc[b]
        return 2.0 * int(np.bitwise_count(words[a] & words[b]).sum()) / d if d else 0.0

    best = {(a, b): dice(a, b) for a, b in itertools.combinations(range(n), 2)}
    return _greedy_reference(n, best, body, dedup, t, floor)


@st.composite
def _clk_instances(draw):
    """Up to twelve one-word CLKs: noisy copies of a few bases, so that scores spread
    around the threshold, in up to three bodies."""
    n = draw(st.integers(2, 12))
    bases = draw(st.lists(st.integers(1, 2**64 - 1), min_size=1, max_size=3))
    words = np.zeros((n, 1), np.uint64)
    for i in range(n):
        w = bases[draw(st.integers(0, len(bases) - 1))]
        for bit in draw(st.lists(st.integers(0, 63), max_size=8)):
            w ^= 1 << bit
        words[i, 0] = w
    n_bodies = draw(st.integers(1, 3))
    body = np.array(draw(st.lists(st.integers(0, n_bodies - 1), min_size=n, max_size=n)))
    body[0] = n_bodies - 1
    dedup = np.array(draw(st.lists(st.booleans(), min_size=n_bodies, max_size=n_bodies)))
    floor = draw(st.sampled_from([0.8, 0.75, 0.7, 0.6]))
    return n, words, body, dedup, floor


def _all_pairs(words: np.ndarray, low: float):
    clks = PackedClks(words, np.bitwise_count(words).sum(axis=1).astype(np.int32), 64)
    n = words.shape[0]
    a, b = (np.array(x, np.int64) for x in zip(*itertools.combinations(range(n), 2), strict=True))
    c = np.bitwise_count(words[a] & words[b]).sum(axis=1)
    d = clks.popcounts[a] + clks.popcounts[b]
    s = np.where(d > 0, 2.0 * c / np.maximum(d, 1), 0.0)
    keep = s >= low
    return clks, (a[keep], b[keep], s[keep])


@settings(max_examples=300, deadline=None)
@given(_clk_instances())
def test_scoring_on_demand_equals_every_pair_down_to_the_floor(instance) -> None:
    n, words, body, dedup, floor = instance
    clks, above = _all_pairs(words, 0.8)  # what a candidate stage keeps
    _, down = _all_pairs(words, floor)  # what it would have to keep without the CLKs
    on_demand = cluster(n, *above, body, dedup=dedup, threshold=0.8, clks=clks, floor=floor,
                        review_margin=0.03)  # fmt: skip
    listed = cluster(n, *down, body, dedup=dedup, threshold=0.8, floor=floor,
                     review_margin=0.03)  # fmt: skip
    np.testing.assert_array_equal(on_demand.group_of, listed.group_of)
    np.testing.assert_array_equal(on_demand.review, listed.review)
    assert on_demand.refused == listed.refused
    plain = cluster(n, *above, body, dedup=dedup, threshold=0.8, clks=clks, floor=floor)
    assert _partition(plain.group_of) == _reference_scored(n, words, body, dedup, 0.8, floor)
    if not dedup.any():
        # Without a deduplicating body neither the CLKs nor the floor change anything.
        before = cluster(n, *above, body, dedup=dedup, threshold=0.8, review_margin=0.03)
        np.testing.assert_array_equal(on_demand.group_of, before.group_of)
        np.testing.assert_array_equal(on_demand.review, before.review)
        np.testing.assert_array_equal(on_demand.support, before.support)
        assert on_demand.floor == 0.8


def test_clks_and_floor_are_checked() -> None:
    clks = pack(np.zeros((3, 8), np.uint8))
    with pytest.raises(LinkageError, match="clks"):
        cluster(2, *_pairs([]), np.zeros(2, np.int64), dedup=ONE_BODY, clks=clks)
    with pytest.raises(LinkageError, match="floor"):
        cluster(3, *_pairs([]), np.zeros(3, np.int64), dedup=ONE_BODY, threshold=0.8,
                floor=0.9)  # fmt: skip
