"""Incremental linkage (``linkage.delta``) against a full re-link of the same records."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage import engine
from linkage.delta import (
    PairState,
    clk_digest,
    compatible,
    link_delta,
    match_records,
    state_of,
)
from linkage.errors import LinkageError

THRESHOLD = 0.8
# Incremental runs keep the given threshold (they cannot learn it: they do not see every
# pair), so they equal full runs with the threshold fixed; see docs/engine.md.
link = partial(engine.link, threshold_from_data=False)


def _noisy(rng: np.random.Generator, clk: np.ndarray, flips: int) -> np.ndarray:
    bits = np.unpackbits(clk)
    pos = rng.choice(bits.size, size=flips, replace=False)
    bits[pos] ^= 1
    return np.packbits(bits)


def _people(rng: np.random.Generator, n: int, nbytes: int) -> np.ndarray:
    # Sparse CLKs (about 30 % of bits set), as real ones are.
    return np.packbits((rng.random((n, nbytes * 8)) < 0.3).astype(np.uint8), axis=1)


def _refs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 16), dtype=np.uint8)


def _bodies(rng: np.random.Generator, n_bodies: int, people: np.ndarray):
    datasets, refs = [], []
    for _ in range(n_bodies):
        held = rng.random(len(people)) < 0.6
        rows = np.array([_noisy(rng, c, int(rng.integers(0, 8))) for c in people[held]],
                        dtype=np.uint8)  # fmt: skip
        if rows.size == 0:
            rows = people[:1].copy()
        datasets.append(rows.reshape(-1, people.shape[1]))
        refs.append(_refs(rng, len(datasets[-1])))
    return datasets, refs


def _mutate(rng: np.random.Generator, datasets, refs, people: np.ndarray):
    """Delete some records, change some (same ref, other CLK: moved to the end as a
    changed record is, in a later upload), append new ones (some of known people)."""
    out_d, out_r = [], []
    for clks, rs in zip(datasets, refs, strict=True):
        n = len(clks)
        fate = rng.choice(3, size=n, p=[0.7, 0.15, 0.15])  # keep, delete, change
        if not (fate == 0).any():
            fate[0] = 0
        keep = fate == 0
        change = fate == 2
        changed = np.array(
            [_noisy(rng, c, int(rng.integers(1, 12))) for c in clks[change]], dtype=np.uint8
        ).reshape(-1, clks.shape[1])
        n_new = int(rng.integers(0, 6))
        new = np.array(
            [_noisy(rng, people[rng.integers(len(people))], int(rng.integers(0, 8)))
             for _ in range(n_new)], dtype=np.uint8,
        ).reshape(-1, clks.shape[1])  # fmt: skip
        out_d.append(np.concatenate([clks[keep], changed, new]))
        out_r.append(np.concatenate([rs[keep], rs[change], _refs(rng, n_new)]))
    return out_d, out_r


def _constraints(rng: np.random.Generator, sizes: list[int]):
    n = sum(sizes)
    body = np.repeat(np.arange(len(sizes)), sizes)
    pairs = rng.integers(0, n, (6, 2))
    pairs = pairs[body[pairs[:, 0]] != body[pairs[:, 1]]]
    half = len(pairs) // 2
    must = (pairs[:half, 0], pairs[:half, 1])
    cannot = (pairs[half:, 0], pairs[half:, 1])
    decided = np.zeros(n, bool)
    decided[pairs.ravel()] = True
    return must, cannot, decided


def _assert_same(full, inc) -> None:
    assert inc.n_groups == full.n_groups
    for a, b in zip(full.group_of, inc.group_of, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(inc.review, full.review)
    np.testing.assert_array_equal(inc.review_risk, full.review_risk)
    np.testing.assert_array_equal(inc.review_order, full.review_order)
    for key in ("candidate_pairs", "merges", "reassigned", "ambiguous_pairs", "review_groups",
                "constraint_conflicts", "threshold"):  # fmt: skip
        assert inc.stats[key] == full.stats[key], key  # one decide() for both
    fl, fr, fs = full.pairs
    il, ir, is_ = inc.pairs
    lo, hi = np.minimum(fl, fr).tolist(), np.maximum(fl, fr).tolist()
    f = sorted(zip(lo, hi, fs.tolist(), strict=True))
    i = sorted(zip(il.tolist(), ir.tolist(), is_.tolist(), strict=True))
    assert f == i


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bodies=st.integers(2, 3),
    nbytes=st.sampled_from([8, 16]),
    dedup_first=st.booleans(),
    with_constraints=st.booleans(),
)
def test_incremental_run_equals_full_relink(
    seed: int, n_bodies: int, nbytes: int, dedup_first: bool, with_constraints: bool
) -> None:
    rng = np.random.default_rng(seed)
    people = _people(rng, int(rng.integers(5, 40)), nbytes)
    names = [f"b{i}" for i in range(n_bodies)]
    dedup = [dedup_first] + [False] * (n_bodies - 1)
    dedup_names = [n for n, d in zip(names, dedup, strict=True) if d]
    datasets, refs = _bodies(rng, n_bodies, people)
    first = link(datasets, threshold=THRESHOLD, blocking="exhaustive", dedup=dedup)
    state = state_of(names, datasets, refs, first, dedup=dedup_names)
    for _ in range(2):  # two incremental runs in a row, each against a full re-link
        datasets, refs = _mutate(rng, datasets, refs, people)
        kw = {}
        if with_constraints:
            must, cannot, decided = _constraints(rng, [len(d) for d in datasets])
            kw = {"must_link": must, "cannot_link": cannot, "decided": decided}
        full = link(datasets, threshold=THRESHOLD, blocking="exhaustive", dedup=dedup, **kw)
        inc = link_delta(names, datasets, refs, state, threshold=THRESHOLD, dedup=dedup, **kw)
        _assert_same(full, inc.result)
        assert inc.stats["kept_pairs"] + inc.stats["new_pairs"] == full.stats["candidate_pairs"]
        state = inc.state


def test_delta_counts_and_only_delta_rows_are_compared() -> None:
    rng = np.random.default_rng(7)
    people = _people(rng, 200, 16)
    a, b = people.copy(), np.array([_noisy(rng, c, 3) for c in people])
    ra, rb = _refs(rng, 200), _refs(rng, 200)
    first = link([a, b], threshold=THRESHOLD, blocking="exhaustive")
    state = state_of(["a", "b"], [a, b], [ra, rb], first)
    # body b: delete 10, change 5, add 20; body a unchanged.
    changed = np.array([_noisy(rng, c, 2) for c in b[10:15]])
    added = _people(rng, 20, 16)
    b2 = np.concatenate([b[15:], changed, added])
    rb2 = np.concatenate([rb[15:], rb[10:15], _refs(rng, 20)])
    inc = link_delta(["a", "b"], [a, b2], [ra, rb2], state, threshold=THRESHOLD)
    s = inc.stats
    assert (s["added"], s["changed"], s["deleted"], s["delta"]) == (20, 5, 10, 25)
    # 25 delta rows of b against the 200 of a at most (popcount pruning skips some).
    assert 0 < s["comparisons"] <= 25 * 200
    full = link([a, b2], threshold=THRESHOLD, blocking="exhaustive")
    _assert_same(full, inc.result)


def test_bodies_are_matched_by_name_and_a_new_body_is_all_delta() -> None:
    rng = np.random.default_rng(3)
    people = _people(rng, 50, 16)
    a, b, c = (np.array([_noisy(rng, p, 2) for p in people]) for _ in range(3))
    ra, rb, rc = _refs(rng, 50), _refs(rng, 50), _refs(rng, 50)
    first = link([a, b], threshold=THRESHOLD, blocking="exhaustive")
    state = state_of(["a", "b"], [a, b], [ra, rb], first)
    # Body order differs and a third body joins.
    inc = link_delta(["b", "c", "a"], [b, c, a], [rb, rc, ra], state, threshold=THRESHOLD)
    full = link([b, c, a], threshold=THRESHOLD, blocking="exhaustive")
    _assert_same(full, inc.result)
    assert inc.stats["delta"] == 50 and inc.stats["kept_pairs"] == first.stats["candidate_pairs"]


def test_state_round_trips_through_a_file(tmp_path) -> None:
    rng = np.random.default_rng(1)
    people = _people(rng, 30, 16)
    a, b = people, np.array([_noisy(rng, c, 2) for c in people])
    ra, rb = _refs(rng, 30), _refs(rng, 30)
    state = state_of(["a", "b"], [a, b], [ra, rb],
                     link([a, b], threshold=THRESHOLD, blocking="exhaustive"))  # fmt: skip
    path = tmp_path / "state.npz"
    state.save(path)
    back = PairState.load(path)
    assert back is not None and back.bodies == ("a", "b") and back.complete
    for name in ("body", "refs", "digest", "left", "right", "scores"):
        np.testing.assert_array_equal(getattr(back, name), getattr(state, name))
    assert PairState.load(tmp_path / "missing.npz") is None
    (tmp_path / "junk.npz").write_bytes(b"not a state")
    assert PairState.load(tmp_path / "junk.npz") is None


def test_match_records_and_digest() -> None:
    rng = np.random.default_rng(5)
    clks = _people(rng, 4, 16)
    refs = _refs(rng, 4)
    d = clk_digest(clks)
    assert len(set(d.tolist())) == 4
    assert clk_digest(clks[[2]])[0] == d[2]
    body = np.array([0, 0, 1, 1])
    # current: record 3 deleted, record 1 changed, record 0 in the other body, one new.
    new_clks = np.concatenate([clks[[2]], _noisy(rng, clks[1], 1)[None], clks[[0]], clks[[3]]])
    new_refs = np.concatenate([refs[[2, 1, 0]], _refs(rng, 1)])
    where = match_records(body, refs, d, np.array([1, 0, 1, 1]), new_refs, clk_digest(new_clks))
    assert where.tolist() == [2, -2, -1, -1]  # unchanged, changed, other body, new


def test_an_incompatible_state_is_refused() -> None:
    rng = np.random.default_rng(2)
    a, b = _people(rng, 10, 16), _people(rng, 10, 16)
    ra, rb = _refs(rng, 10), _refs(rng, 10)
    state = state_of(["a", "b"], [a, b], [ra, rb], link([a, b], threshold=THRESHOLD))
    assert compatible(state, threshold=THRESHOLD, bit_length=128, dedup=[])
    assert not compatible(state, threshold=0.85, bit_length=128, dedup=[])
    assert not compatible(state, threshold=THRESHOLD, bit_length=128, dedup=["a"])
    with pytest.raises(LinkageError, match="previous state"):
        link_delta(["a", "b"], [a, b], [ra, rb], state, threshold=0.9)
    with pytest.raises(LinkageError, match="refs"):
        link_delta(["a", "b"], [a, b], [ra, rb[:5]], state, threshold=THRESHOLD)


def test_a_learned_run_cannot_seed_an_incremental_one() -> None:
    """A learned run's review saw pairs below its threshold and a fitted model, which an
    incremental run (given threshold, pairs at or above it) would not: refused."""
    rng = np.random.default_rng(3)
    a, b = _people(rng, 10, 16), _people(rng, 10, 16)
    learned = engine.link([a, b], threshold=THRESHOLD, blocking="exhaustive")
    assert learned.threshold_source != "fixed"
    with pytest.raises(LinkageError, match="fixed threshold"):
        state_of(["a", "b"], [a, b], [_refs(rng, 10), _refs(rng, 10)], learned)


def test_match_records_when_refs_share_their_first_half() -> None:
    """Refs a body chose to share their first 8 bytes take the exact (sorting) path."""
    rng = np.random.default_rng(9)
    clks = _people(rng, 6, 16)
    refs = _refs(rng, 6)
    refs[:, :8] = 7
    body = np.zeros(6, np.int64)
    d = clk_digest(clks)
    new_clks = clks.copy()
    new_clks[1] = _noisy(rng, clks[1], 1)
    new_refs = refs.copy()
    new_refs[5, 15] ^= 1  # a new ref
    where = match_records(body, refs, d, body, new_refs, clk_digest(new_clks))
    assert where.tolist() == [0, -2, 2, 3, 4, -1]
    fast = match_records(body[:0], _refs(rng, 0), d[:0], body, new_refs, clk_digest(new_clks))
    assert fast.tolist() == [-1] * 6
