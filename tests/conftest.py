"""Fixtures shared by several test folders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """One ``LocalCluster`` of two process workers (one thread each) for the session:
    starting one, and loading the numba kernels in its workers, costs seconds."""
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        worker_dashboard_address=":0",
    ) as cluster:  # fmt: skip
        yield cluster
