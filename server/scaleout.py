"""Which engine a run uses: in-process, or stage 2 on a Dask cluster when configured.

With ``KAKEHASHI_DASK_SCHEDULER`` set, a run connects to that scheduler, hands
``linkage.distributed.ClusterCandidates`` to ``linkage.engine.link`` and disconnects;
packing, clustering, review and tokens stay in this process, and the result is the one
the in-process engine gives. A scheduler that cannot be reached, a cluster without
workers, or a cluster that fails during the run fails the run with a ``LinkageError``
saying so (the run's status shows it); nothing is written.

Dask is imported only here and only when configured (the ``server`` extra installs it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from typing import Any

import numpy as np

from linkage.errors import LinkageError
from server.core.config import Settings

_log = logging.getLogger("kakehashi.server.scaleout")


def linker(settings: Settings) -> Callable[..., Any]:
    """``linkage.engine.link``, or the same run with stage 2 on the configured cluster."""
    from linkage.engine import link

    address = settings.dask_scheduler
    if not address:
        return link

    def link_on_cluster(datasets: Sequence[np.ndarray], **kwargs: Any) -> Any:
        return link_on_scheduler(address, datasets, timeout=settings.dask_timeout_seconds,
                                 **kwargs)  # fmt: skip

    return link_on_cluster


def link_on_scheduler(address: str, datasets: Sequence[np.ndarray], *, timeout: float,
                      **kwargs: Any) -> Any:  # fmt: skip
    """``link(datasets, **kwargs)`` with candidate generation on the cluster at ``address``.

    Raises:
        LinkageError: the scheduler cannot be reached within ``timeout`` seconds, no worker
            joins it in that time, or the cluster fails during the run (plus every error
            of ``link`` itself).
    """
    from distributed import Client, KilledWorker

    from linkage.distributed import ClusterCandidates
    from linkage.engine import link

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise LinkageError(
            f"the Dask scheduler {address} (KAKEHASHI_DASK_SCHEDULER) could not be reached "
            f"within {timeout:g} s ({type(exc).__name__}); the run was not linked"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise LinkageError(
                f"no Dask worker joined the scheduler {address} within {timeout:g} s "
                f"({type(exc).__name__}); the run was not linked"
            ) from None
        stage = ClusterCandidates(client)
        try:
            result = link(datasets, candidates=stage, **kwargs)
        except (OSError, TimeoutError, KilledWorker, CancelledError) as exc:
            raise LinkageError(
                f"the Dask cluster at {address} failed during the run ({type(exc).__name__}); "
                "the run was not linked"
            ) from None
    _log.info("run linked on dask", extra={"tasks": stage.tasks, "threads": stage.threads})
    return result
