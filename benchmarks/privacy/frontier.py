"""The privacy/quality frontier: every hardening config, attacked and linked.

    python -m benchmarks.privacy.frontier --children 2000 --out benchmarks/results/<date>

For each config of :data:`benchmarks.privacy.run.CONFIGS`: the attacks at ``--children``
(in-sample, synthetic generator seed 0), and the best F1 of Kakehashi on the accuracy
benchmark's synthetic ``small`` scenario (normal errors) and FEBRL4 with the
same hardening block (the unhardened ``none`` config is the reference for F1 loss).
Writes ``frontier.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks import accuracy, baselines
from benchmarks.privacy.run import CONFIGS, run_config, worst_graph
from linkage.schema import builtin_schema

DATASETS = (("small", "normal"), ("febrl4", None))


def quality(block: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Best F1 (and twins merged there) per accuracy dataset with hardening ``block``."""
    schema = baselines.with_hardening(builtin_schema("children-v1"), block)
    out = {}
    for name, level in DATASETS:
        if name == "febrl4":
            res = accuracy.run_febrl(("kakehashi",), block)
        else:
            res = accuracy.run_scenario(name, level, methods=("kakehashi",), schema=schema)
        best = res["methods"]["kakehashi"]["best"]
        out[res["dataset"]] = {
            "f1": best["f1"],
            "threshold": best["threshold"],
            "twins_merged": best.get("twins_merged", 0),
        }
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for r in rows:
        x = 100 * r["graph_worst"]
        y = r["f1_loss_max"]
        ax.scatter([x], [y], s=30)
        ax.annotate(r["config"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0.003, color="grey", lw=0.8, ls="--")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("graph attack: re-identified % (worst of 50 % roster + 10 seeds, 100 % roster)")
    ax.set_ylabel("largest F1 loss vs unhardened (accuracy benchmarks)")
    ax.set_title("Kakehashi hardening: privacy / quality frontier")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict[str, Any]]) -> str:
    """One row per config: attacks (re-identified %) and best F1 per accuracy dataset."""
    names = list(rows[0]["quality"]) if rows else []
    head = " | ".join(f"F1 {n}" for n in names)
    lines = [
        f"| config | graph 50 %/10 seeds | graph 100 %/0 | frequency | surname decode | "
        f"dup. CLKs | {head} | largest F1 loss |",
        "|---|---|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for r in rows:
        f1 = " | ".join(f"{r['quality'][n]['f1']:.4f}" for n in names)
        lines.append(
            f"| {r['config']} | {100 * r['graph']['roster50_seeds10']:.2f} % | "
            f"{100 * r['graph']['roster100_seeds0']:.2f} % | {100 * r['frequency']:.2f} % | "
            f"{100 * r['decode_surname']:.2f} % | {100 * r['duplicates']:.1f} % | {f1} | "
            f"{r['f1_loss_max']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.privacy.frontier")
    p.add_argument("--children", type=int, default=2000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--only", default=None, help="comma-separated config names")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(CONFIGS)
    if "none" not in names:
        names.insert(0, "none")
    rows = []
    base: dict[str, dict[str, float]] = {}
    for name in names:
        t0 = time.perf_counter()
        block = CONFIGS[name]
        q = quality(block)
        attack = run_config(name, block, args.children, 0, quick=True)
        if name == "none":
            base = q
        loss = {k: base[k]["f1"] - v["f1"] for k, v in q.items()}
        graph = worst_graph(attack)
        row = {
            "config": name,
            "hardening": block,
            "quality": q,
            "f1_loss": loss,
            "f1_loss_max": max(loss.values()),
            "graph": graph,
            "graph_worst": max(graph.values()),
            "frequency": attack["frequency"]["reidentified"],
            "decode_surname": (attack["decode_surname"] or {}).get("reidentified", 0.0),
            "duplicates": attack["duplicates"]["a_in_b"],
            "popcount_corr": attack["popcount"]["corr_name_length"],
            "attack": attack,
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        print(
            f"{name:24s} graph50/10={graph['roster50_seeds10']:.4f} "
            f"graph100/0={graph['roster100_seeds0']:.4f} freq={row['frequency']:.4f} "
            f"decode={row['decode_surname']:.4f} dup={row['duplicates']:.4f} "
            f"F1={json.dumps({k: round(v['f1'], 4) for k, v in q.items()})} "
            f"loss_max={row['f1_loss_max']:.4f} ({row['seconds']:.0f}s)",
            flush=True,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "frontier.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    plot(rows, args.out / "frontier.png")
    (args.out / "frontier.md").write_text(markdown(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
