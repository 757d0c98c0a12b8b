"""Stage 2 on a Dask cluster gives the in-process result (groups, review flags, risks).

One ``LocalCluster`` of two process workers (one thread each) serves the session
(``tests/conftest.py``): starting one costs seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import distributed
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.blocking import BlockingConfig
from linkage.distributed import ClusterCandidates, _blocks
from linkage.engine import LinkResult, link


@pytest.fixture(scope="module")
def client(dask_cluster) -> Iterator[distributed.Client]:
    with distributed.Client(dask_cluster) as c:
        yield c


@pytest.fixture(scope="module")
def bodies(realistic_clks) -> list[np.ndarray]:
    """Three bodies of ~80 % of 500 synthetic children (one typo in a third of them);
    body 0 holds some children twice (for deduplication)."""
    arrays = realistic_clks(500, 3, seed=5)
    rng = np.random.default_rng(5)
    again = arrays[0][rng.choice(len(arrays[0]), 40, replace=False)]
    arrays[0] = np.concatenate([arrays[0], again])
    return arrays


def _same(a: LinkResult, b: LinkResult) -> None:
    assert a.n_groups == b.n_groups
    for x, y in zip(a.group_of, b.group_of, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.review, b.review)
    np.testing.assert_array_equal(a.review_risk, b.review_risk)
    np.testing.assert_array_equal(a.review_order, b.review_order)
    assert a.threshold == b.threshold and a.threshold_source == b.threshold_source
    for key in ("candidate_pairs", "floor_pairs", "merges", "reassigned", "ambiguous_pairs",
                "review_groups", "threshold", "threshold_learned",
                "constraint_conflicts", "exhaustive"):  # fmt: skip
        assert a.stats[key] == b.stats[key], key


def _constraints(n: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    ml = rng.choice(n, (2, 15), replace=False)
    cl = rng.choice(n, (2, 15), replace=False)
    return {"must_link": (ml[0], ml[1]), "cannot_link": (cl[0], cl[1])}


@pytest.mark.parametrize(
    ("blocking", "dedup", "learn", "known"),
    [
        ("exhaustive", [True, False, True], False, True),
        ("exhaustive", [True, False, False], True, True),
        (BlockingConfig(bands=12, bits_per_band=10), [True, False, False], False, True),
        (BlockingConfig(), [False, False, False], False, False),
    ],
    ids=["exhaustive-dedup-known", "learned-threshold", "lsh-dedup-known", "lsh"],
)
def test_cluster_result_is_the_in_process_result(client, bodies, blocking, dedup, learn,
                                                 known) -> None:  # fmt: skip
    n = sum(len(b) for b in bodies)
    kwargs = dict(threshold=0.85, blocking=blocking, dedup=dedup, threshold_from_data=learn,
                  **(_constraints(n, 1) if known else {}))  # fmt: skip
    local = link(bodies, **kwargs)
    stage = ClusterCandidates(client)
    remote = link(bodies, candidates=stage, **kwargs)
    _same(local, remote)
    assert stage.threads == 2 and stage.tasks > 1  # the work really was split
    assert remote.stats["dask_tasks"] == stage.tasks
    assert local.stats["merges"] > 0 and local.stats["review_groups"] > 0
    if learn:  # the blocks' best-two partners were merged and used: near pairs, a fit
        assert local.stats["floor_pairs"] > local.stats["candidate_pairs"]
    if not isinstance(blocking, str):
        assert remote.stats["comparisons"] == local.stats["comparisons"]
        assert remote.stats["bands"] == local.stats["bands"]


def test_a_lowered_learned_threshold_on_the_cluster(client, bodies) -> None:
    """Above the data's own estimate (about 0.88 here) the learned threshold lowers it:
    the second pass, for the pairs in between, runs on the cluster too."""
    kwargs = dict(threshold=0.95, blocking="exhaustive", dedup=[True, False, False])
    local = link(bodies, **kwargs)
    remote = link(bodies, candidates=ClusterCandidates(client), **kwargs)
    assert local.threshold_source == "em" and local.threshold < 0.95
    _same(local, remote)


def test_one_body_deduplicated_on_the_cluster(client, bodies) -> None:
    local = link([bodies[0]], threshold=0.85, dedup=[True], blocking="exhaustive")
    remote = link([bodies[0]], threshold=0.85, dedup=[True], blocking="exhaustive",
                  candidates=ClusterCandidates(client, tasks_per_thread=8))  # fmt: skip
    _same(local, remote)
    assert local.stats["merges"] >= 30  # the children entered twice found each other


@given(n=st.integers(1, 5000), parts=st.integers(1, 64), min_rows=st.integers(1, 300))
def test_blocks_cover_every_row_once(n, parts, min_rows) -> None:
    blocks = _blocks(n, parts, min_rows)
    assert blocks[0][0] == 0 and blocks[-1][1] == n and len(blocks) <= parts
    assert all(a < b for a, b in blocks)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(blocks))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(1, 120), min_size=1, max_size=4),
    dedup_bits=st.integers(0, 15),
    threshold=st.sampled_from([0.6, 0.75, 0.9]),
    blocking=st.sampled_from(["exhaustive", "lsh"]),
    learn=st.booleans(),
    min_rows=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_any_split_gives_the_in_process_result(client, sizes, dedup_bits, threshold, blocking,
                                               learn, min_rows, seed) -> None:  # fmt: skip
    """Small blocks (many tasks, blocks of one body against themselves) on random data with
    true matches and duplicates: the same result as in-process."""
    rng = np.random.default_rng(seed)
    base = np.packbits(rng.random((150, 512)) < rng.uniform(0.15, 0.5, (150, 1)), axis=1)
    data = []
    for size in sizes:
        rows = base[rng.integers(0, len(base), size)]
        flips = np.packbits(rng.random((size, 512)) < 0.03, axis=1)
        data.append(rows ^ flips)
    dedup = [bool(dedup_bits >> i & 1) for i in range(len(sizes))]
    if len(sizes) == 1:
        dedup = [True]
    kwargs = dict(threshold=threshold, blocking=blocking, dedup=dedup, threshold_from_data=learn)
    stage = ClusterCandidates(client, tasks_per_thread=16, min_block_rows=min_rows)
    _same(link(data, **kwargs), link(data, candidates=stage, **kwargs))
