"""Support-list benchmark: planted children found through Kakehashi's linkage against the
status quo, over several seeds and error levels.

    python -m benchmarks.support --children 2000 --seeds 3 --error-level normal --error-level dirty

Each run generates a town with signals (``synthetic/signals.py``), writes the bodies'
exports, reads them back with the department reader, links them in-process with
Kakehashi's encoder and engine at the schema's default threshold (``baselines.pprl_method``)
and with the status quo (exact kanji name + birth date), then applies the two example rule
files of ``docs/ja/examples`` to each grouping with the records' true signal values (what
decryption gives the coordinator; the end-to-end path with HPKE and a real server is the
demo's, ``tests/e2e/test_support_demo.py``). Results: JSON and Markdown in the output folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import baselines
from synthetic import REFERENCE_DATE, generate

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "ja" / "examples"


def _rules(folder: Path) -> Any:
    from coordinator.rules import load_rules
    from kakehashi.demo import demo_rules
    from linkage.signals import Catalogue
    from synthetic.signals import demo_catalogue_dict

    catalogue = Catalogue.from_dict(demo_catalogue_dict())
    return load_rules(demo_rules(folder / "rules.toml"), catalogue), catalogue


def run_one(children: int, seed: int, error_level: str, folder: Path) -> dict[str, Any]:
    """One town: found / listed counts for Kakehashi, each department alone, exact match."""
    from kakehashi.evaluation import support_comparison

    rules, catalogue = _rules(folder)
    t0 = time.perf_counter()
    town = generate(children, seed=seed, error_level=error_level, signals=True)
    files = town.write_exports(folder / f"exports-{seed}-{error_level}")
    records = baselines.read_exports(files)
    method = baselines.pprl_method(records, today=REFERENCE_DATE)
    assert method.default_threshold is not None
    groups = {k: str(v) for k, v in method.predict(method.default_threshold).items()}
    result = support_comparison(town, records, groups, rules, catalogue, REFERENCE_DATE)
    linkage, exact = result["linkage"], result["exact"]
    return {
        "children": children,
        "seed": seed,
        "error_level": error_level,
        "planted": linkage.n_planted,
        "kakehashi_found": len(linkage.found),
        "kakehashi_connected": len(linkage.connected),
        "kakehashi_connected_not_found": len(linkage.connected - linkage.found),
        "kakehashi_listed": linkage.listed,
        "kakehashi_unplanted_background": linkage.unplanted_background,
        "kakehashi_unplanted_linkage_errors": linkage.unplanted_linkage,
        "kakehashi_missed": [list(m) for m in linkage.missed],
        "alone_found": result["alone_found"],
        "exact_found": len(exact.found),
        "exact_listed": exact.listed,
        "exact_unplanted_background": exact.unplanted_background,
        "exact_unplanted_linkage_errors": exact.unplanted_linkage,
        "perfect_linkage_listed": result["ideal"],
        "seconds": time.perf_counter() - t0,
    }


def report(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        "# Support list: planted children found",
        "",
        "Planted children have a need visible only across departments "
        "(`synthetic/signals.py`). In-sample: the generator's own truth. Per run: found / "
        "planted; listed (no planted reason: background cases meeting a rule under perfect "
        "linkage + listings caused by linkage errors).",
        "",
        "| children | error level | seed | Kakehashi found | connected | each dept alone "
        "| exact name+DOB found | Kakehashi listed (bg + errors) | exact listed (bg + errors) "
        "| perfect linkage listed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['children']:,} | {r['error_level']} | {r['seed']} "
            f"| {r['kakehashi_found']}/{r['planted']} | {r['kakehashi_connected']} "
            f"| {r['alone_found']}/{r['planted']} | {r['exact_found']}/{r['planted']} "
            f"| {r['kakehashi_listed']} ({r['kakehashi_unplanted_background']} + "
            f"{r['kakehashi_unplanted_linkage_errors']}) "
            f"| {r['exact_listed']} ({r['exact_unplanted_background']} + "
            f"{r['exact_unplanted_linkage_errors']}) | {r['perfect_linkage_listed']} |"
        )
    for level in sorted({r["error_level"] for r in runs}):
        mine = [r for r in runs if r["error_level"] == level]
        share = [r["kakehashi_found"] / r["planted"] for r in mine]
        exact = [r["exact_found"] / r["planted"] for r in mine]
        lines.append("")
        lines.append(
            f"- {level}: median share of planted children found — Kakehashi "
            f"{statistics.median(share):.3f}, exact name + birth date "
            f"{statistics.median(exact):.3f}, each department alone 0.000 "
            f"(n = {len(mine)} towns)."
        )
    missed = [(r["seed"], r["error_level"], m) for r in runs for m in r["kakehashi_missed"]]
    if missed:
        lines += ["", "Planted children Kakehashi missed, and why:", ""]
        lines += [f"- seed {s} ({lvl}): {pid} {rule}: {why}" for s, lvl, (pid, rule, why) in missed]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--error-level", action="append", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/support"))
    args = parser.parse_args(argv)
    levels = args.error_level or ["normal", "dirty"]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            for seed in range(1, args.seeds + 1):
                runs.append(run_one(args.children, seed, level, Path(tmp)))
                r = runs[-1]
                print(
                    f"{level} seed {seed}: Kakehashi {r['kakehashi_found']}/{r['planted']}, "
                    f"exact {r['exact_found']}/{r['planted']}, alone {r['alone_found']}, "
                    f"{r['seconds']:.0f} s",
                    flush=True,
                )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "support.json").write_text(json.dumps(runs, ensure_ascii=False, indent=2))
    (args.out / "support.md").write_text(report(runs), encoding="utf-8")
    print(report(runs))


if __name__ == "__main__":
    main()
