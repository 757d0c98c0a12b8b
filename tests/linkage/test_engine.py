from __future__ import annotations

import numpy as np
import pytest

from linkage.blocking import BlockingConfig
from linkage.engine import LinkResult, link
from linkage.errors import LinkageError


def _truth_groups(ids: list[np.ndarray]) -> dict[int, set[tuple[int, int]]]:
    out: dict[int, set[tuple[int, int]]] = {}
    for d, arr in enumerate(ids):
        for rec, person in enumerate(arr.tolist()):
            out.setdefault(person, set()).add((d, rec))
    return out


def test_links_noisy_copies_across_bodies(noisy) -> None:
    arrays, ids = noisy(800, 4, seed=7, flip=0.06)
    for blocking in ("default", "exhaustive"):
        res = link(arrays, threshold=0.8, blocking=blocking, workers=2)
        assert isinstance(res, LinkResult)
        assert [g.shape for g in res.group_of] == [a.shape[:1] for a in arrays]
        assert res.review.shape == (res.n_groups,)
        groups = _truth_groups(ids)
        exact = sum(
            len({int(res.group_of[d][r]) for d, r in members}) == 1 for members in groups.values()
        )
        assert exact / len(groups) > 0.95
        for g in res.group_of:
            assert g.min() >= 0 and g.max() < res.n_groups
        assert res.stats["candidate_pairs"] > 0 and res.stats["seconds_total"] > 0


def test_default_blocking_agrees_with_exhaustive(noisy) -> None:
    arrays, _ = noisy(600, 3, seed=8, flip=0.05)
    a = link(arrays, threshold=0.85, blocking="default")
    b = link(arrays, threshold=0.85, blocking="exhaustive")
    assert a.n_groups == b.n_groups
    for x, y in zip(a.group_of, b.group_of, strict=True):
        assert np.array_equal(x, y)
    assert a.stats["comparisons"] < b.stats["comparisons"]


def test_realistic_clks_link(realistic_clks) -> None:
    arrays = realistic_clks(200, 3, seed=3)
    res = link(arrays, threshold=0.8, blocking=BlockingConfig(seed=1))
    assert res.stats["merges"] > 200
    sizes = np.bincount(np.concatenate(res.group_of), minlength=res.n_groups)
    assert sizes.max() <= 3


def test_dedup_groups_duplicates_within_a_body(noisy) -> None:
    arrays, _ = noisy(200, 2, seed=9, flip=0.02, keep=1.0)
    doubled = np.concatenate([arrays[0], arrays[0][:20]])
    res = link([doubled, arrays[1]], threshold=0.9, dedup=[True, False], blocking="exhaustive")
    assert np.array_equal(res.group_of[0][:20], res.group_of[0][200:])
    res = link([doubled, arrays[1]], threshold=0.9, blocking="exhaustive")
    assert not np.array_equal(res.group_of[0][:20], res.group_of[0][200:])


def test_server_style_call_still_works(noisy) -> None:
    arrays, _ = noisy(50, 2, seed=1)
    res = link(arrays, threshold=0.8)
    assert res.n_groups >= 50


@pytest.mark.parametrize(
    ("datasets", "kwargs", "message"),
    [
        ([np.zeros((2, 128), np.uint8)], {}, "at least two"),
        ([np.zeros((2, 128), np.uint8), np.zeros((2, 64), np.uint8)], {}, "lengths differ"),
        ([np.zeros((2, 128), np.uint8), np.zeros((0, 128), np.uint8)], {}, "empty"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"threshold": 0.0}, "outside"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"threshold": 1.5}, "outside"),
        ([np.zeros((2, 128), np.int64)] * 2, {}, "uint8"),
        ([np.zeros((2, 12), np.uint8)] * 2, {}, "multiple of 64"),
        ([np.zeros((2, 128), np.uint8)] * 11, {}, "at most 10"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"blocking": "fast"}, "unknown blocking"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"dedup": [True]}, "dedup"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"workers": 0}, "workers"),
        ([np.zeros((2, 128), np.uint8)] * 2, {"review_margin": -1}, "review_margin"),
    ],
)
def test_bad_input_raises_linkage_error(datasets, kwargs, message) -> None:
    kwargs = {"threshold": 0.8, **kwargs}
    with pytest.raises(LinkageError, match=message):
        link(datasets, **kwargs)


def test_threshold_learned_or_kept(noisy) -> None:
    arrays, ids = noisy(600, 3, seed=11, flip=0.05)
    learned = link(arrays, threshold=0.8)  # the default learns it
    fixed = link(arrays, threshold=0.8, threshold_from_data=False)
    assert fixed.threshold == 0.8 and fixed.threshold_source == "fixed"
    assert 0.7 - 1e-9 <= learned.threshold <= 0.85 + 1e-9
    assert learned.stats["threshold"] == learned.threshold
    assert learned.stats["exhaustive"] == 1.0  # small: compared exhaustively
    assert learned.review_risk.shape == (learned.n_groups,)
    assert set(learned.review_order.tolist()) == set(np.flatnonzero(learned.review).tolist())
    groups = _truth_groups(ids)
    exact = sum(
        len({int(learned.group_of[d][r]) for d, r in members}) == 1 for members in groups.values()
    )
    assert exact / len(groups) > 0.95


def test_one_dataset_with_dedup_links_within_itself(noisy) -> None:
    arrays, _ = noisy(200, 1, seed=12, flip=0.02, keep=1.0)
    doubled = np.concatenate([arrays[0], arrays[0][:30]])
    res = link([doubled], threshold=0.9, dedup=[True])
    assert np.array_equal(res.group_of[0][:30], res.group_of[0][200:])
    with pytest.raises(LinkageError, match="one with deduplication"):
        link([doubled], threshold=0.9)
