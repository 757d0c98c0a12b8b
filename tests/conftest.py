"""Fixtures shared by several test folders, and how ``make test`` shares files among
pytest-xdist workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

# No per-example time limit for Hypothesis (its default is 200 ms): under `make test` four
# workers share two cores with servers and browsers, and a first call that JIT-compiles a
# numba kernel took 327 ms in a full parallel run, failing a correct test. Speed is measured
# in benchmarks, not asserted in tests. A test's own @settings still sets its example count.
settings.register_profile("kakehashi", deadline=None)
settings.load_profile("kakehashi")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make test`` (``-n 4 --dist loadfile``): each test file runs whole on one worker, so
    its module-scoped servers and databases are built once, and the files of
    tests/dashboard/ all run on one worker, so their session-scoped ``demo`` project (a
    real server with 150 children, tens of seconds to build) is built once, not per worker.
    (``--dist loadgroup`` with ``xdist_group`` marks cannot do this under pytest 9: xdist
    tags a node id by assigning ``item._nodeid``, which pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class DashboardTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return "tests/dashboard/" if path.startswith("tests/dashboard/") else path

    return DashboardTogether(config, log)


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """One ``LocalCluster`` of two process workers (one thread each) per session, that is
    per xdist worker that needs one: starting one, and loading the numba kernels in its
    workers, costs seconds."""
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        worker_dashboard_address=":0",
    ) as cluster:  # fmt: skip
        yield cluster
