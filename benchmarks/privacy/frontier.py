"""The privacy/quality frontier: every hardening config, attacked and linked at fixed thresholds.

    python -m benchmarks.privacy.frontier --children 5000 --quality-children 5000 \\
        --out benchmarks/results/<date>-privacy-frontier --cache /tmp/frontier-cache

For each config of :data:`benchmarks.privacy.run.CONFIGS` (hardening blocks applied to
``children-v1``; ``none`` is the unhardened reference):

* the attacks of :func:`benchmarks.privacy.run.run_config` at ``--children`` (in-sample,
  synthetic generator seed 0; the 10 % roster run with seeds only);
* linkage quality on both municipal generators (``synthetic``, ``kawase``; seed 0, normal
  errors, all bodies, ``--quality-children`` children) and FEBRL4 (its own benchmark
  schema with the same block), each ``linkage.engine.link`` at every threshold of
  :data:`THRESHOLDS`, *fixed* (``threshold_from_data=False``: no threshold learned from the
  run's scores), scored with ``synthetic.metrics.score`` (twin pairs merged). Reported per
  data set: the best F1 over the grid and the F1 at the shipped schemas' default
  thresholds (:data:`DEFAULTS`; the grid is swept from the top down and stops past the
  peak, see :data:`STOP_BELOW`).

The F1 loss of a config is the best-of-grid F1 of ``none`` minus its own, per data set.
Each config's row is cached in ``--cache`` (keyed by config, sizes and grid), so an
interrupted run resumes. Writes ``frontier.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks import baselines
from benchmarks.privacy import fixed_quality
from benchmarks.privacy.run import CONFIGS, run_config, worst_graph
from linkage.schema import builtin_schema

THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
"""The fixed grid; it holds both shipped schemas' defaults (``children-v1`` 0.8,
``children-v2`` 0.6) and the peaks of folded (≈ 0.5–0.6) and unfolded (≈ 0.65–0.8) CLKs."""
GENERATORS = ("synthetic", "kawase")
DEFAULTS = (0.6, 0.8)
"""The shipped schemas' default thresholds (``children-v2`` 0.6, ``children-v1`` 0.8): always
in the grid; F1 at 0.6 is reported where the sweep reached it (0.8 is its first point)."""
STOP_BELOW = 0.0
"""The sweep runs from the highest threshold down and stops at the first threshold whose
F1 does not beat the best so far by more than this (past the peak: lower thresholds only
add candidate pairs, and cost)."""
GOOD_ENOUGH = 0.9999
"""... or once the best F1 reaches this (what a lower threshold could add is then below
the F1-loss target's resolution; unhardened FEBRL4 below 0.65 costs minutes a point)."""
F1_TARGET = 0.003
GRAPH_TARGET = 0.01
FREQUENCY_TARGET = 0.005


@cache
def _municipal(generator: str, children: int) -> Any:
    from benchmarks.quality import municipal_dataset

    return municipal_dataset(generator, children, seed=0)


@cache
def _febrl() -> tuple[dict[str, list[dict[str, Any]]], Any]:
    return baselines.febrl4()


def _summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(points, key=lambda q: q["f1"])
    at = {f"{d:g}": next((q for q in points if abs(q["threshold"] - d) < 1e-9), None)
          for d in DEFAULTS}  # fmt: skip
    return {"points": points, "best": best, "at_default": at}


def quality(
    block: dict[str, Any], children: int, thresholds: Sequence[float] = THRESHOLDS,
    generators: Sequence[str] = GENERATORS, febrl: bool = True,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """F1 per data set (grid points, best, at the schema's default) with hardening ``block``."""
    out: dict[str, dict[str, Any]] = {}
    schema = baselines.with_hardening(builtin_schema("children-v1"), block)
    grid = sorted({*thresholds, *DEFAULTS})
    for gen in generators:
        points = fixed_quality.municipal(
            gen, children, schema, grid, data=_municipal(gen, children),
            stop_below=STOP_BELOW, good_enough=GOOD_ENOUGH,
        )  # fmt: skip
        out[gen] = _summary(points)
    if febrl:
        fgrid = sorted({*thresholds, *DEFAULTS})
        points = fixed_quality.febrl(block, fgrid, data=_febrl(), stop_below=STOP_BELOW,
                                     good_enough=GOOD_ENOUGH)  # fmt: skip
        out["febrl4"] = _summary(points)
    return out


def meets_targets(row: dict[str, Any]) -> bool:
    """Every privacy target of issue 11 and the F1-loss target on every data set."""
    return (
        row["graph_worst"] <= GRAPH_TARGET
        and row["frequency"] <= FREQUENCY_TARGET
        and row["duplicates"] == 0.0
        and row["f1_loss_max"] <= F1_TARGET
        and row["twins_merged_max"] <= row["twins_merged_base"]
    )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in rows:
        x = 100 * r["graph_worst"]
        y = max(r["f1_loss_max"], 0.0)
        ok = meets_targets(r)
        ax.scatter([x], [y], s=36, marker="o" if ok else "x", color="C2" if ok else "C3")
        ax.annotate(r["config"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(F1_TARGET, color="grey", lw=0.8, ls="--")
    ax.axvline(100 * GRAPH_TARGET, color="grey", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("symlog", linthresh=0.003)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("graph attack: re-identified % (worst of 50 % roster + 10 seeds, 100 % roster)")
    ax.set_ylabel("largest best-F1 loss vs unhardened (synthetic, kawase, FEBRL4; fixed thr.)")
    ax.set_title("Kakehashi hardening: privacy / quality frontier (o = meets every target)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _f1(point: dict[str, Any] | None) -> str:
    return "–" if point is None else f"{point['f1']:.4f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """One row per config: attacks (re-identified %) and F1 per data set (best / at default)."""
    names = list(rows[0]["quality"]) if rows else []
    head = " | ".join(f"F1 {n}: best (thr.) / @0.6 / @0.8" for n in names)
    lines = [
        f"| config | bits | graph 50 %/10 seeds | graph 100 %/0 | frequency | surname decode | "
        f"dup. CLKs | {head} | largest F1 loss | twins merged | meets all |",
        "|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for r in rows:
        f1 = " | ".join(
            f"{r['quality'][n]['best']['f1']:.4f} ({r['quality'][n]['best']['threshold']:g}) / "
            f"{_f1(r['quality'][n]['at_default']['0.6'])} / "
            f"{_f1(r['quality'][n]['at_default']['0.8'])}"
            for n in names
        )
        lines.append(
            f"| {r['config']} | {r['attack']['bit_length']} | "
            f"{100 * r['graph']['roster50_seeds10']:.2f} % | "
            f"{100 * r['graph']['roster100_seeds0']:.2f} % | {100 * r['frequency']:.2f} % | "
            f"{100 * r['decode_surname']:.2f} % | {100 * r['duplicates']:.1f} % | {f1} | "
            f"{r['f1_loss_max']:.4f} | {r['twins_merged_max']} | "
            f"{'yes' if meets_targets(r) else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def frontier_row(
    name: str, block: dict[str, Any], children: int, quality_children: int,
    thresholds: Sequence[float] = THRESHOLDS, generators: Sequence[str] = GENERATORS,
    febrl: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Attacks and quality of one config (F1 loss is filled in by :func:`with_losses`)."""
    t0 = time.perf_counter()
    q = quality(block, quality_children, thresholds, generators, febrl)
    quality_s = time.perf_counter() - t0
    attack = run_config(name, block, children, 0, quick=True)
    graph = worst_graph(attack)
    return {
        "config": name,
        "hardening": block,
        "quality": q,
        "graph": graph,
        "graph_worst": max(graph.values()),
        "frequency": attack["frequency"]["reidentified"],
        "decode_surname": (attack["decode_surname"] or {}).get("reidentified", 0.0),
        "duplicates": attack["duplicates"]["a_in_b"],
        "popcount_corr": attack["popcount"]["corr_name_length"],
        "attack": attack,
        "children": children,
        "quality_children": quality_children,
        "quality_s": quality_s,
        "seconds": time.perf_counter() - t0,
    }


def with_losses(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in each row's F1 loss against the ``none`` row (best-of-grid F1 per data set)."""
    base = next(r for r in rows if r["config"] == "none")
    for r in rows:
        r["f1_loss"] = {
            k: base["quality"][k]["best"]["f1"] - v["best"]["f1"] for k, v in r["quality"].items()
        }
        r["f1_loss_max"] = max(r["f1_loss"].values())
        r["twins_merged_max"] = max(v["best"]["twins_merged"] for v in r["quality"].values())
        r["twins_merged_base"] = max(v["best"]["twins_merged"] for v in base["quality"].values())
    return rows


def _cache_key(name: str, args: argparse.Namespace) -> str:
    gens = "+".join(args.generators)
    grid = "_".join(f"{t:g}" for t in args.thresholds)
    febrl = "-febrl" if args.febrl else ""
    return f"{name}-a{args.children}-q{args.quality_children}-{gens}{febrl}-t{grid}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.privacy.frontier", description=__doc__)
    p.add_argument("--children", type=int, default=5000, help="children attacked per config")
    p.add_argument("--quality-children", type=int, default=5000, help="children per generator")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--only", default=None, help="comma-separated config names")
    p.add_argument("--generators", default=",".join(GENERATORS))
    p.add_argument("--no-febrl", dest="febrl", action="store_false")
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in THRESHOLDS))
    p.add_argument("--cache", type=Path, default=None, help="folder for per-config rows")
    p.add_argument("--cached-only", action="store_true", help="tabulate the cached rows only")
    args = p.parse_args(argv)
    args.generators = [g for g in args.generators.split(",") if g]
    args.thresholds = [float(t) for t in args.thresholds.split(",")]
    names = args.only.split(",") if args.only else list(CONFIGS)
    if "none" not in names:  # the reference for F1 loss; last, so a parallel run's cache serves it
        names.append("none")
    rows = []
    for name in names:
        cached = args.cache / f"{_cache_key(name, args)}.json" if args.cache else None
        if cached is not None and cached.exists():
            row = json.loads(cached.read_text(encoding="utf-8"))
        elif args.cached_only:
            print(f"{name:38s} not in the cache: left out", flush=True)
            continue
        else:
            row = frontier_row(name, CONFIGS[name], args.children, args.quality_children,
                               args.thresholds, args.generators, args.febrl)  # fmt: skip
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(row), encoding="utf-8")
        rows.append(row)
        best = {k: round(v["best"]["f1"], 4) for k, v in row["quality"].items()}
        print(
            f"{name:38s} graph50/10={row['graph']['roster50_seeds10']:.4f} "
            f"graph100/0={row['graph']['roster100_seeds0']:.4f} freq={row['frequency']:.4f} "
            f"decode={row['decode_surname']:.4f} dup={row['duplicates']:.4f} "
            f"F1={json.dumps(best)} ({row['seconds']:.0f}s, quality {row['quality_s']:.0f}s)",
            flush=True,
        )
    rows.sort(key=lambda r: r["config"] != "none")
    with_losses(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "frontier.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    plot(rows, args.out / "frontier.png")
    (args.out / "frontier.md").write_text(markdown(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
