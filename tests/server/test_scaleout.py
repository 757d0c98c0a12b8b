"""A server with ``KAKEHASHI_DASK_SCHEDULER`` links runs on the Dask cluster.

The session's ``LocalCluster`` (two process workers, one thread each; tests/conftest.py);
the servers are real uvicorn servers on SQLite (the Dask path does not touch the
database, so PostgreSQL adds nothing here).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import distributed
import numpy as np
import pytest
from server_testdata import binary_bytes, bodies_data, encodings, noisy_copy
from server_testkit import LiveServer, free_port, make_settings, start_server, wait_run

from linkage.engine import link
from linkage.errors import LinkageError
from server.scaleout import link_on_scheduler


@pytest.fixture
def cluster(dask_cluster) -> distributed.LocalCluster:
    return dask_cluster


def _server(tmp_path: Path, **settings: object) -> Iterator[LiveServer]:
    server = start_server(make_settings(tmp_path / "data", None, **settings), "sqlite")
    try:
        yield server
    finally:
        server.stop()


def _upload(live: LiveServer, cred: str, pid: str, data: bytes) -> None:
    with live.client(cred) as c:
        r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": "replace"}, content=data,
                   headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 201, r.text


def _partition(keys: list[tuple[str, str]], label: list[object]) -> set[frozenset]:
    groups: dict[object, set] = {}
    for key, g in zip(keys, label, strict=True):
        groups.setdefault(g, set()).add(key)
    return {frozenset(v) for v in groups.values()}


def test_run_on_the_cluster_gives_the_in_process_groups(cluster, tmp_path) -> None:
    rng = np.random.default_rng(3)
    data = bodies_data(seed=3, n_shared=60, n_own=40, n_bodies=3)
    data[0] = np.vstack([data[0], noisy_copy(rng, data[0][:15], flips=6)])  # duplicates
    names = ("school", "welfare", "health")
    encs = [encodings(d) for d in data]
    for live in _server(tmp_path, dask_scheduler=cluster.scheduler_address):
        project = live.new_project(bodies=names, dedup_bodies=["school"])
        pid, creds = project["project_id"], project["credentials"]
        for name, enc in zip(names, encs, strict=True):
            _upload(live, creds["bodies"][name], pid, binary_bytes(enc))
        with live.client(creds["coordinator"]) as c:
            threshold = c.get(f"/api/v1/projects/{pid}").json()["threshold"]
            run = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
            assert run["status"] == "done", run
            table = list(csv.DictReader(io.StringIO(
                c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "csv"}).text
            )))  # fmt: skip
    with distributed.Client(cluster) as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert {"compare_block", "bands_task"} & set(prefixes)  # the tasks ran on the cluster

    expected = link(data, threshold=threshold, dedup=[True, False, False])
    keys = [(name, ref) for name, enc in zip(names, encs, strict=True) for ref in enc.refs]
    want = _partition(keys, np.concatenate(expected.group_of).tolist())
    got = _partition([(r["body"], r["ref"]) for r in table], [r["token"] for r in table])
    assert got == want
    assert any(len(g) == 3 for g in want)  # people linked across the three bodies
    assert any(sum(b == "school" for b, _ in g) > 1 for g in want)  # and deduplicated


def test_unreachable_scheduler_fails_the_run_with_a_clear_error(tmp_path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    for live in _server(tmp_path, dask_scheduler=address, dask_timeout_seconds=1.0):
        project = live.new_project()
        pid, creds = project["project_id"], project["credentials"]
        for name, clks in zip(("school", "welfare"), bodies_data(seed=4, n_shared=5, n_own=5),
                              strict=True):  # fmt: skip
            _upload(live, creds["bodies"][name], pid, binary_bytes(encodings(clks)))
        with live.client(creds["coordinator"]) as c:
            run = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
            results = c.get(f"/api/v1/projects/{pid}/results/tokens")
    assert run["status"] == "failed"
    assert address in run["error"] and "could not be reached" in run["error"]
    assert results.status_code == 404  # nothing was written


def test_a_scheduler_without_workers_fails_clearly() -> None:
    data = bodies_data(seed=5, n_shared=5, n_own=5)
    with (
        distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as empty,
        pytest.raises(LinkageError, match="no Dask worker joined the scheduler"),
    ):
        link_on_scheduler(empty.scheduler_address, data, timeout=0.5, threshold=0.8)
