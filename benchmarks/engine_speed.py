"""Speed of the linkage engine against anonlink, measured in one run.

Run ``python -m benchmarks.engine_speed [--n 100000] [--small] [--out path.json]``.

Data are synthetic CLKs made with numpy, not clkhash (clkhash would need hours for
500 000 records): ``n`` base CLKs of 1024 bits whose bit density is drawn from
U(0.15, 0.5) — the spread of popcounts that real clkhash encodings of names and
addresses show — and each body's copy of a base CLK flips every bit with a probability
drawn from U(0, ``flip``). Each body holds a random 80 % of the base records.

Reported:
* ``dice``: pairs/s of ``linkage.similarity.dice_pairs`` (1 and 2 threads) and of
  anonlink's ``dice_coefficient_accelerated`` (single-threaded C++) on the same two sets,
  thresholds 0.7 and 0.85, medians of ``--repeats`` runs, with ratios. JIT compilation is
  done (or loaded from numba's cache) before timing. ``uniform`` rows use density 0.5 for
  every CLK, where popcount pruning cannot help, to show the kernel alone.
* ``link``: ``link()`` on 5 bodies × 0.8 ``n`` records with default blocking and exhaustive:
  wall time per stage, comparisons, reduction ratio, pair completeness (pairs at Dice ≥
  threshold found by blocking / found exhaustively), ground-truth pair recall, and peak
  RSS of a fresh child process that does only that linkage.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_bodies(
    n: int, bodies: int, *, seed: int = 0, flip: float = 0.08, keep: float = 0.8,
    uniform: bool = False, bits: int = 1024,
) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """``bodies`` noisy copies of ``n`` random base CLKs: ((m_d, bits/8) uint8, (m_d,) ids)."""
    rng = np.random.default_rng(seed)
    density = np.full(n, 0.5) if uniform else rng.uniform(0.15, 0.5, n)
    arrays, ids = [], []
    base = np.empty((n, bits // 8), np.uint8)
    for s in range(0, n, 20000):
        e = min(n, s + 20000)
        base[s:e] = np.packbits(rng.random((e - s, bits)) < density[s:e, None], axis=1)
    for _ in range(bodies):
        chosen = np.flatnonzero(rng.random(n) < keep)
        rng.shuffle(chosen)
        out = base[chosen].copy()
        rates = rng.uniform(0, flip, chosen.size)
        for s in range(0, chosen.size, 20000):
            e = min(chosen.size, s + 20000)
            noise = rng.random((e - s, bits)) < rates[s:e, None]
            out[s:e] ^= np.packbits(noise, axis=1)
        arrays.append(out)
        ids.append(chosen)
    return arrays, ids


def _interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function; one call of each per round, so all contenders
    see the same machine load (the measuring machine may be shared)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_dice(n: int, repeats: int, bits: int = 1024) -> list[dict]:
    """Pairs/s of our kernel and anonlink's on ``n × n`` CLKs of ``bits`` bits."""
    import anonlink

    from linkage.packed import pack
    from linkage.similarity import dice_pairs, warm_up

    warm_up()
    rows = []
    for uniform in (False, True):
        (a, b), _ = synthetic_bodies(n, 2, seed=1, keep=1.0, uniform=uniform, bits=bits)
        pa, pb = pack(a), pack(b)
        bas = [pa.to_bitarrays(), pb.to_bitarrays()]
        for threshold in (0.7, 0.85):
            ref = anonlink.similarities.dice_coefficient_accelerated
            med = _interleaved(
                {
                    "anonlink": lambda: ref(bas, threshold),  # noqa: B023
                    "ours_1t": lambda: dice_pairs(pa, pb, threshold, workers=1),  # noqa: B023
                    "ours_2t": lambda: dice_pairs(pa, pb, threshold, workers=2),  # noqa: B023
                },
                repeats,
            )
            row = {
                "data": "uniform-density" if uniform else "varied-density",
                "n": n,
                "bits": bits,
                "threshold": threshold,
                "anonlink_pairs_per_s": n * n / med["anonlink"],
            }
            for workers in (1, 2):
                row[f"ours_{workers}t_pairs_per_s"] = n * n / med[f"ours_{workers}t"]
                row[f"ratio_{workers}t"] = med["anonlink"] / med[f"ours_{workers}t"]
            row["compared_fraction"] = dice_pairs(pa, pb, threshold).comparisons / (n * n)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def _peak_rss_mb() -> float:
    """Peak RSS of this process since its exec (``VmHWM``; ``ru_maxrss`` survives exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _link_child(path: str, blocking: str, threshold: float, queue) -> None:
    from linkage.engine import link
    from linkage.similarity import warm_up

    data = np.load(path)
    arrays = [data[f"clks{i}"] for i in range(5)]
    ids = [data[f"ids{i}"] for i in range(5)]
    warm_up()
    t = time.perf_counter()
    # A fixed threshold: LSH and exhaustive compared like for like (pair completeness).
    res = link(arrays, threshold=threshold, blocking=blocking, threshold_from_data=False)
    wall = time.perf_counter() - t
    # ground truth: pairs of records of one base CLK, in different bodies
    found = total = 0
    owner = np.concatenate(ids)
    group = np.concatenate(res.group_of)
    order = np.argsort(owner, kind="stable")
    bounds = np.flatnonzero(np.r_[True, owner[order][1:] != owner[order][:-1], True])
    for s, e in itertools.pairwise(bounds):
        g = group[order[s:e]]
        m = e - s
        total += m * (m - 1) // 2
        _, counts = np.unique(g, return_counts=True)
        found += int((counts * (counts - 1) // 2).sum())
    peak_mb = _peak_rss_mb()
    queue.put(
        {
            "blocking": blocking,
            "threshold": threshold,
            "wall_s": wall,
            "peak_rss_mb": peak_mb,
            "groups": res.n_groups,
            "review_groups": int(res.review.sum()),
            "true_pair_recall": found / max(total, 1),
            **res.stats,
        }
    )


def bench_link(n: int, threshold: float, exhaustive: bool) -> list[dict]:
    """``link()`` on 5 bodies, each case in a fresh process so its peak RSS is its own."""
    arrays, ids = synthetic_bodies(n, 5, seed=2)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bodies.npz")
        np.savez(path, **{f"clks{i}": a for i, a in enumerate(arrays)},
                 **{f"ids{i}": x for i, x in enumerate(ids)})  # fmt: skip
        del arrays, ids
        ctx = mp.get_context("spawn")
        for blocking in ("default", "exhaustive") if exhaustive else ("default",):
            queue = ctx.Queue()
            proc = ctx.Process(target=_link_child, args=(path, blocking, threshold, queue))
            proc.start()
            row = queue.get()
            proc.join()
            row["records_per_body"] = int(row["all_pairs"] ** 0.5 / 10**0.5)
            out.append(row)
            print(json.dumps(row), file=sys.stderr)
    if len(out) == 2:
        out[0]["pair_completeness"] = out[0]["candidate_pairs"] / max(out[1]["candidate_pairs"], 1)
    for row in out:
        row["reduction_ratio"] = 1 - row["comparisons"] / row["all_pairs"]
        row["comparison_cut"] = row["all_pairs"] / max(row["comparisons"], 1)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="base records (bodies hold 80%%)")
    parser.add_argument("--small", action="store_true", help="n = 10 000, dice n = 5 000")
    parser.add_argument("--dice-n", type=int, default=20_000, help="CLKs per side for Dice")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.8, help="threshold for link()")
    parser.add_argument("--no-exhaustive", action="store_true", help="skip exhaustive link()")
    parser.add_argument("--dice-only", action="store_true", help="only the Dice comparison")
    parser.add_argument("--out", type=Path, help="write JSON here instead of stdout")
    parser.add_argument(
        "--bits", type=int, default=1024, help="CLK length for the Dice comparison (hardened)"
    )
    args = parser.parse_args(argv)
    n, dice_n = (10_000, 5_000) if args.small else (args.n, args.dice_n)
    result = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "dice": bench_dice(dice_n, args.repeats, args.bits),
        "link": [] if args.dice_only else bench_link(n, args.threshold, not args.no_exhaustive),
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".md").write_text(to_markdown(result))
    else:
        print(text)


def to_markdown(result: dict) -> str:
    """The Dice and link tables of a result, as Markdown."""
    lines = [
        "## Linkage engine speed",
        "",
        "Dice pairs/s against anonlink's `dice_coefficient_accelerated` (1 thread), same data,"
        " medians.",
        "",
        "| data | n | threshold | ours 1 thread | ours 2 threads | compared |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for d in result["dice"]:
        lines.append(
            f"| {d['data']} | {d['n']:,} | {d['threshold']} | {d['ratio_1t']:.2f}× | "
            f"{d['ratio_2t']:.2f}× | {d['compared_fraction']:.0%} |"
        )
    if result["link"]:
        lines += [
            "",
            "| blocking | records/body | wall s | comparisons | pair completeness | peak RSS MB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in result["link"]:
            completeness = r.get("pair_completeness")
            shown = f"{completeness:.5f}" if completeness is not None else "reference"
            lines.append(
                f"| {r['blocking']} | {r['records_per_body']:,} | {r['wall_s']:.1f} | "
                f"{r['comparisons']:.3g} | {shown} | {r['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
