"""Scale-out of a run on Dask: 1, 2 and 4 process workers against the in-process engine.

Run ``python -m benchmarks.dask_scaling [--n 10000] [--rounds 3] [--workers 1,2,4]
[--blocking exhaustive,lsh] [--out folder]``.

Data: ``benchmarks.engine_speed.synthetic_bodies`` — 5 bodies, each a noisy copy of a
random 80 % of ``n`` base CLKs of 1024 bits (numpy-made, not clkhash: see that module).
For each worker count a ``LocalCluster(n_workers=w, threads_per_worker=1,
processes=True)`` is started and warmed up (numba kernels loaded in every worker); then
each round runs, back to back, ``link()`` in-process (all cores this process may use) and
``link(..., candidates=ClusterCandidates(client))`` on the same data, so both see the
same machine load. Reported per case: median wall seconds of the whole ``link()`` and of
stage 2 (``seconds_candidates``), the ratio cluster / in-process of each (the in-process
run measured in the same rounds), and rates:

* ``pairs_per_s_per_core`` — ``comparisons`` (pairs whose bits were compared, after
  popcount pruning) / stage-2 seconds / cores used (``min(workers, cpus)`` on the cluster,
  the CPUs this process may use in-process);
* ``all_pairs_per_s_per_core`` — the same with every pair of the run counted
  (``all_pairs``): the rate to scale with when sizing (pruning's share is in it).

Every round also checks that the two results have the same groups and review flags.
``docs/capacity.md`` turns the rates into cores, memory and wall time for a prefecture
and for the country.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.engine_speed import synthetic_bodies


def _same(a, b) -> bool:
    return (
        a.n_groups == b.n_groups
        and all(np.array_equal(x, y) for x, y in zip(a.group_of, b.group_of, strict=True))
        and np.array_equal(a.review, b.review)
    )


def bench_case(arrays: list[np.ndarray], workers: int, blocking: str, threshold: float,
               rounds: int) -> dict:  # fmt: skip
    """Medians over ``rounds`` of the in-process and the cluster run with ``workers``."""
    import distributed

    from linkage.distributed import ClusterCandidates
    from linkage.engine import link

    cpus = len(os.sched_getaffinity(0))
    t = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            worker_dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        start_s = time.perf_counter() - t
        small = [a[:64] for a in arrays]
        link(small, threshold=threshold, blocking=blocking, candidates=ClusterCandidates(client))
        local, remote, identical = [], [], True
        for _ in range(rounds):
            t = time.perf_counter()
            a = link(arrays, threshold=threshold, blocking=blocking)
            local.append((time.perf_counter() - t, a.stats))
            stage = ClusterCandidates(client)
            t = time.perf_counter()
            b = link(arrays, threshold=threshold, blocking=blocking, candidates=stage)
            remote.append((time.perf_counter() - t, b.stats))
            identical &= _same(a, b)
    row: dict = {
        "workers": workers, "blocking": blocking, "cluster_start_s": start_s,
        "tasks": stage.tasks, "identical": identical,
    }  # fmt: skip
    for name, runs, cores in (("in_process", local, cpus), ("cluster", remote, min(workers, cpus))):
        wall = statistics.median(w for w, _ in runs)
        cand = statistics.median(s["seconds_candidates"] for _, s in runs)
        stats = runs[0][1]
        row[name] = {
            "wall_s": wall,
            "candidates_s": cand,
            "cores": cores,
            "comparisons": stats["comparisons"],
            "all_pairs": stats["all_pairs"],
            "pairs_per_s_per_core": stats["comparisons"] / cand / cores,
            "all_pairs_per_s_per_core": stats["all_pairs"] / cand / cores,
        }
    row["wall_ratio"] = row["cluster"]["wall_s"] / row["in_process"]["wall_s"]
    row["candidates_ratio"] = row["cluster"]["candidates_s"] / row["in_process"]["candidates_s"]
    print(json.dumps(row), file=sys.stderr)
    return row


def to_markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Dask scale-out: cluster vs in-process engine",
        "",
        f"{result['records']} records in 5 bodies, threshold {result['threshold']}, "
        f"{m['cpus']} CPUs ({m['processor']}, Python {m['python']}), "
        f"medians of {result['rounds']} rounds; {result['date']}. Ratio = cluster / "
        "in-process seconds in the same rounds (below 1: the cluster is faster).",
        "",
        "| blocking | workers | tasks | in-process s | cluster s | wall ratio | stage-2 ratio "
        "| pairs/s/core (cluster) | all pairs/s/core (cluster) | identical |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["cases"]:
        c = r["cluster"]
        lines.append(
            f"| {r['blocking']} | {r['workers']} | {r['tasks']} | "
            f"{r['in_process']['wall_s']:.2f} | {c['wall_s']:.2f} | {r['wall_ratio']:.2f} | "
            f"{r['candidates_ratio']:.2f} | {c['pairs_per_s_per_core']:.3g} | "
            f"{c['all_pairs_per_s_per_core']:.3g} | {r['identical']} |"
        )
    lines += ["", "In-process rates (all CPUs of this process):", ""]
    for r in result["cases"]:
        p = r["in_process"]
        lines.append(
            f"- {r['blocking']}, round set with {r['workers']} worker(s): "
            f"{p['pairs_per_s_per_core']:.3g} compared pairs/s/core, "
            f"{p['all_pairs_per_s_per_core']:.3g} all pairs/s/core"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="base records (bodies hold 80%%)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--blocking", default="exhaustive", help="exhaustive and/or lsh")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--out", type=Path, help="folder for dask_scaling.json and .md")
    args = parser.parse_args(argv)
    arrays, _ = synthetic_bodies(args.n, 5, seed=2)
    from linkage.similarity import warm_up

    warm_up()
    cases = [
        bench_case(arrays, int(w), blocking, args.threshold, args.rounds)
        for blocking in args.blocking.split(",")
        for w in args.workers.split(",")
    ]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.dask_scaling " + " ".join(argv or sys.argv[1:]),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                    "load_avg_1m_at_end": os.getloadavg()[0]},
        "records": int(sum(len(a) for a in arrays)),
        "threshold": args.threshold,
        "rounds": args.rounds,
        "cases": cases,
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "dask_scaling.json").write_text(text + "\n")
        (args.out / "dask_scaling.md").write_text(to_markdown(result))
    else:
        print(text)


if __name__ == "__main__":
    main()
