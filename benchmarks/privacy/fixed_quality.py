"""F1 of the unhardened and the default hardening at fixed thresholds, on every accuracy data set.

    python -m benchmarks.privacy.fixed_quality --children 5000 \\
        --out benchmarks/results/<date>-privacy-quality

FEBRL4 with its own benchmark schema, without and with the default schema's hardening
block (hashed into 2048 bits before the steps, as the default is); both synthetic
generators (``synthetic``, ``kawase``; seed 0, normal errors, all bodies) with
``children-v1`` and the default schema. Each point is ``linkage.engine.link`` with its
defaults at a *fixed* threshold (no threshold learned from the data), scored with the
accuracy benchmark's metric (``synthetic.metrics.score``: cross-body pair F1, twin
pairs merged). Writes ``fixed_quality.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import baselines
from benchmarks.quality import TODAY, municipal_dataset
from linkage.engine import link
from linkage.schema import builtin_schema, default_schema
from synthetic.metrics import score

PLAIN_THRESHOLDS = (0.65, 0.7, 0.75, 0.8)
HARDENED_THRESHOLDS = (0.5, 0.525, 0.55, 0.575, 0.6)


def _groups(bodies: list[str], ids: list[list[str]], result: Any) -> dict[tuple[str, str], int]:
    pred = {}
    for b, rids, groups in zip(bodies, ids, result.group_of, strict=True):
        for rid, g in zip(rids, groups.tolist(), strict=True):
            pred[(b, rid)] = int(g)
    return pred


def _sweep(
    clks, bodies, ids, truth, thresholds, twin_pairs=(), *, stop_below: float | None = None,
    keep: Sequence[float] = (), good_enough: float | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """F1 at each fixed threshold (``threshold_from_data=False``), highest first.

    ``stop_below`` (early stop, for sweeps over many configs): after the first threshold
    whose F1 does not beat the best so far by more than ``stop_below`` — past the peak;
    lower thresholds only add candidate pairs, and cost — only the thresholds in ``keep``
    are still measured. ``good_enough``: the same once the best F1 reaches it (a lower
    threshold could add at most ``1 - good_enough``).
    """
    out = []
    best = -1.0
    stopped = False
    for t in sorted(thresholds, reverse=True):
        if stopped and not any(abs(t - k) < 1e-9 for k in keep):
            continue
        t0 = time.perf_counter()
        result = link(clks, threshold=t, threshold_from_data=False)
        sc = score(_groups(bodies, ids, result), truth, twin_pairs=twin_pairs)
        out.append({"threshold": t, "f1": sc.f1, "precision": sc.precision,
                    "recall": sc.recall, "twins_merged": sc.twins_merged,
                    "seconds": time.perf_counter() - t0})  # fmt: skip
        if stop_below is not None and out[:-1] and sc.f1 <= best + stop_below:
            stopped = True
        best = max(best, sc.f1)
        if good_enough is not None and best >= good_enough:
            stopped = True
    return sorted(out, key=lambda q: q["threshold"])


def febrl(hardening: dict[str, Any] | None, thresholds, *, data: Any = None,
          **sweep: Any) -> list[dict[str, Any]]:  # fmt: skip
    """FEBRL4 through its benchmark schema (with ``hardening``, if any); ``data``: the
    ``baselines.febrl4()`` pair when the caller already holds it; ``sweep``: keyword
    arguments of ``_sweep`` (early stops)."""
    from encoders.hashing import ClkHasher

    bodies, truth = data if data is not None else baselines.febrl4()
    schema = baselines._febrl_schema()
    if hardening:
        schema = baselines.with_hardening(schema, hardening)
    hasher = ClkHasher(schema, baselines.BENCHMARK_SECRET)
    names = list(bodies)
    clks = [hasher.hash_rows([[r[f] or "" for f in baselines.FEBRL_FIELDS] for r in bodies[b]])
            for b in names]  # fmt: skip
    ids = [[r["record_id"] for r in bodies[b]] for b in names]
    return _sweep(clks, names, ids, truth, thresholds, **sweep)


def municipal(generator: str, children: int, schema: Any, thresholds, *, data: Any = None,
              **sweep: Any) -> list[dict[str, Any]]:  # fmt: skip
    """One generator's town (seed 0, normal errors) encoded with ``schema``; ``data``: that
    town when the caller already holds it; ``sweep``: keyword arguments of ``_sweep``."""
    from encoders.pipeline import encode_rows

    ds = data if data is not None else municipal_dataset(generator, children, seed=0)
    names = list(ds.records)
    clks, ids = [], []
    for b in names:
        enc = encode_rows(ds.records[b], schema, baselines.BENCHMARK_SECRET, today=TODAY)
        clks.append(enc.clks)
        ids.append([ds.records[b][int(i)]["record_id"] for i in enc.index])
    return _sweep(clks, names, ids, ds.truth, thresholds, ds.twin_pairs, **sweep)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.privacy.fixed_quality")
    p.add_argument("--children", type=int, default=5_000)
    p.add_argument("--generators", default="kawase,synthetic")
    p.add_argument("--no-febrl", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    hardened = default_schema()
    block = {"clk_bits": hardened.clk_bit_length, **hardened.hardening}
    runs: list[tuple[str, str, Any]] = []
    if not args.no_febrl:
        runs += [("febrl4", "unhardened", lambda: febrl(None, PLAIN_THRESHOLDS)),
                 ("febrl4", hardened.name, lambda: febrl(block, HARDENED_THRESHOLDS))]  # fmt: skip
    for gen in [g for g in args.generators.split(",") if g]:
        runs += [
            (gen, "children-v1", lambda g=gen: municipal(
                g, args.children, builtin_schema("children-v1"), PLAIN_THRESHOLDS)),
            (gen, hardened.name, lambda g=gen: municipal(
                g, args.children, hardened, HARDENED_THRESHOLDS)),
        ]  # fmt: skip
    rows = []
    for dataset, encoding, fn in runs:
        t0 = time.perf_counter()
        points = fn()
        best = max(points, key=lambda q: q["f1"])
        rows.append({"dataset": dataset, "encoding": encoding, "points": points, "best": best,
                     "seconds": time.perf_counter() - t0})  # fmt: skip
        curve = ", ".join(f"{q['threshold']}: {q['f1']:.4f}" for q in points)
        print(f"{dataset:10s} {encoding:12s} best F1 {best['f1']:.4f} ({curve})", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fixed_quality.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
