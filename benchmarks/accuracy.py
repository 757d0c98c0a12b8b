"""Accuracy benchmark: the synthetic municipality (and FEBRL4), every method, a threshold sweep.

    python -m benchmarks.accuracy --scenario small
    python -m benchmarks.accuracy --scenario small --scenario medium --error-level dirty

Each scenario is generated, written as the bodies' CSV exports, read back with the
department reader, and linked by the status quo, Splink and Kakehashi on those same
records. Results go to ``benchmarks/results/<date>/`` (JSON, Markdown, PNG plots).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks import baselines
from synthetic import REFERENCE_DATE, SCENARIOS, scenario
from synthetic.metrics import best_by_f1, score, threshold_curve

METHODS = ("status_quo", "splink", "kakehashi")
RESULTS_ROOT = Path(__file__).parent / "results"
HARDENED_THRESHOLDS = tuple(round(0.4 + 0.025 * i, 3) for i in range(23))
"""Sweep for an explicit schema/hardening: folding and balancing move Dice scores."""


def _method_result(
    name: str, curve: list[dict[str, Any]], timings: dict[str, float]
) -> dict[str, Any]:
    return {"method": name, "curve": curve, "best": best_by_f1(curve), "timings": timings}


def evaluate(
    records: dict[str, list[dict[str, Any]]],
    truth: dict[tuple[str, str], str],
    *,
    methods: Sequence[str] = METHODS,
    splink_settings: str = "japanese",
    today: date = REFERENCE_DATE,
    normalised: dict[str, list[dict[str, Any]]] | None = None,
    pprl: baselines.ClkMethod | None = None,
    subgroups: dict[str, set[str]] | None = None,
    twin_pairs: Sequence[tuple[str, str]] = (),
    splink_thresholds: Sequence[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``methods`` on ``records`` and score each point of its threshold sweep.

    ``normalised`` (Splink's input) defaults to :func:`baselines.normalised_records` of
    ``records``; ``pprl`` to :func:`baselines.pprl_method` of ``records``;
    ``splink_thresholds`` to :class:`baselines.SplinkMethod`'s sweep.
    """
    kw: dict[str, Any] = {"subgroups": subgroups, "twin_pairs": twin_pairs}
    out: dict[str, dict[str, Any]] = {}
    if "status_quo" in methods:
        t0 = time.perf_counter()
        pred = baselines.status_quo(records)
        elapsed = time.perf_counter() - t0
        point = {"threshold": None, **score(pred, truth, **kw).as_dict()}
        out["status_quo"] = _method_result("status_quo", [point], {"link_s": elapsed})
    if "splink" in methods:
        t0 = time.perf_counter()
        norm = normalised or baselines.normalised_records(records, today=today)
        norm_s = time.perf_counter() - t0
        sp = (
            baselines.SplinkMethod(norm, settings=splink_settings)
            if splink_thresholds is None
            else baselines.SplinkMethod(
                norm, settings=splink_settings, thresholds=splink_thresholds
            )
        )
        curve = threshold_curve(sp.predict, truth, sp.thresholds, **kw)
        out["splink"] = _method_result("splink", curve, {"normalise_s": norm_s, **sp.timings})
    if "kakehashi" in methods:
        method = pprl or baselines.pprl_method(records, today=today)
        curve = threshold_curve(method.predict, truth, method.thresholds, **kw)
        out["kakehashi"] = _method_result("kakehashi", curve, dict(method.timings))
        if method.default_threshold is not None:
            out["kakehashi"]["default_threshold"] = method.default_threshold
            out["kakehashi"]["at_default"] = next(
                p for p in curve if p["threshold"] == method.default_threshold
            )
        if method.schema_id is not None:
            out["kakehashi"]["schema_id"] = method.schema_id
    return out


def run_scenario(
    name: str,
    error_level: str = "normal",
    *,
    seed: int = 0,
    methods: Sequence[str] = METHODS,
    export_dir: Path | None = None,
    schema: Any = None,
) -> dict[str, Any]:
    """Generate scenario ``name``, write its exports, read them back, evaluate ``methods``.

    ``schema``: Kakehashi's linkage schema (default: the shipped default).
    """
    t0 = time.perf_counter()
    town = scenario(name, error_level, seed=seed)
    generate_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_dir or Path(tmp)
        paths = town.write_exports(folder)
        if export_dir is not None:
            town.write_truth(folder / "truth.csv")
        records = baselines.read_exports(paths)
    pprl = None
    if "kakehashi" in methods and schema is not None:
        pprl = baselines.pprl_method(
            records, today=REFERENCE_DATE, schema=schema, thresholds=HARDENED_THRESHOLDS
        )
    methods_out = evaluate(
        records,
        town.truth,
        methods=methods,
        pprl=pprl,
        subgroups=town.subgroups(),
        twin_pairs=town.twin_pairs(),
    )
    groups = town.subgroups()
    return {
        "dataset": f"synthetic-{name}-{error_level}",
        "scenario": name,
        "error_level": error_level,
        "seed": seed,
        "n_children": len(town.persons),
        "records": {body: len(recs) for body, recs in records.items()},
        "subgroup_sizes": {k: len(v) for k, v in groups.items()},
        "generate_s": generate_s,
        "methods": methods_out,
    }


def run_febrl(
    methods: Sequence[str] = ("splink", "kakehashi"),
    hardening: dict[str, Any] | None = None,
    *,
    thresholds: Sequence[float] | None = None,
    splink_thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """FEBRL4 (5 000 + 5 000 records, 5 000 true pairs) with Splink and Kakehashi's CLKs.

    ``hardening``: a hardening block applied to the FEBRL schema (default: none).
    ``thresholds`` / ``splink_thresholds``: the Dice / match-probability sweeps (default:
    the full ones; each Kakehashi point is one full 5 000 x 5 000 linkage).
    """
    bodies, truth = baselines.febrl4()
    pprl = None
    if "kakehashi" in methods:
        if thresholds is None:
            thresholds = baselines.PPRL_THRESHOLDS if hardening is None else HARDENED_THRESHOLDS
        pprl = baselines.febrl_pprl_method(bodies, hardening=hardening, thresholds=thresholds)
    methods_out = evaluate(
        bodies,
        truth,
        methods=[m for m in methods if m != "status_quo"],
        splink_settings="febrl",
        normalised=bodies,
        pprl=pprl,
        splink_thresholds=splink_thresholds,
    )
    return {
        "dataset": "febrl4",
        "records": {body: len(rows) for body, rows in bodies.items()},
        "methods": methods_out,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__)
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), default=None)
    p.add_argument(
        "--error-level", action="append", choices=("clean", "normal", "dirty"), default=None
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    p.add_argument("--febrl", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<date>")
    p.add_argument(
        "--hardening",
        default=None,
        help="JSON hardening block applied to children-v1 and to FEBRL's schema "
        "(default: the default schema as shipped, FEBRL's schema unhardened)",
    )
    p.add_argument(
        "--keep-exports", action="store_true", help="write exports and truth under <out>/raw/"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    from benchmarks.report import summary_lines, write_report

    args = _parser().parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods: {sorted(unknown)}; choose from {METHODS}")
    out = args.out or RESULTS_ROOT / date.today().isoformat()
    hardening = None if args.hardening is None else json.loads(args.hardening)
    schema = None
    if hardening is not None:
        from linkage.schema import builtin_schema

        schema = baselines.with_hardening(builtin_schema("children-v1"), hardening)
    results = []
    for name in args.scenario or ["small"]:
        for level in args.error_level or ["normal"]:
            export_dir = out / "raw" / f"{name}-{level}" if args.keep_exports else None
            result = run_scenario(
                name, level, seed=args.seed, methods=methods, export_dir=export_dir, schema=schema
            )
            results.append(result)
            print("\n".join(summary_lines(result)), flush=True)
    if args.febrl:
        result = run_febrl(methods, hardening)
        results.append(result)
        print("\n".join(summary_lines(result)), flush=True)
    written = write_report(results, out)
    print(f"report: {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
