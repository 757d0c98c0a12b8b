"""Reproducible search for the default schema's feature weights and Dice threshold.

    python -m benchmarks.tuning --scenario medium --seed 0 --confirm-seed 1

Each scenario (error levels ``normal`` and ``dirty`` by default) is generated, written as
the bodies' exports, read back and normalised **once**; every candidate schema then only
re-hashes those values (``encoders.hashing.ClkHasher``, byte-identical to the encoder) and
links them with ``linkage.engine.link`` over a threshold grid.

Objective of a candidate: the threshold ``t`` of the grid with the best :func:`objective`
— the mean F1 over the error levels where, on every level, precision >= ``min_precision``
and no twin pair is merged (*feasible*); below the floor the shortfall is penalised, so the
search can climb towards feasibility.

Search: coordinate descent over ``bitsPerFeature`` of each field — each round tries every
field's weight multiplied by each factor (others fixed) and moves to the best candidate
if it improves the score by more than ``min_gain``; rounds repeat until nothing improves.
The winner is then *confirmed* on another seed: the chosen ``(weights, threshold)`` must
also meet the constraints there, guarding against fitting the noise of one sample.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import baselines
from synthetic import REFERENCE_DATE, scenario
from synthetic.metrics import score

THRESHOLDS: tuple[float, ...] = tuple(round(0.6 + 0.025 * i, 3) for i in range(13))
"""Dice thresholds tried for every candidate: 0.600, 0.625, ... 0.900."""
FACTORS: tuple[float, ...] = (0.6, 1.5)
"""Multipliers applied to one field's ``bitsPerFeature`` per coordinate step."""
MIN_BITS, MAX_BITS = 10, 400


@dataclass
class Prepared:
    """One scenario normalised once, ready to be hashed under any candidate schema.

    Attributes:
        label: e.g. ``medium-normal-s0``.
        bodies: body keys, in link order.
        ids: per body, record ids of the accepted records.
        values: per body, rows of normalised field values, in ``fields`` order.
        fields: schema field identifiers the values follow.
        truth, subgroups, twin_pairs: as ``synthetic.metrics.score`` takes them.
    """

    label: str
    bodies: list[str]
    ids: list[list[str]]
    values: list[list[list[str]]]
    fields: list[str]
    truth: dict[tuple[str, str], str]
    subgroups: dict[str, set[str]]
    twin_pairs: list[tuple[str, str]]


def prepare(
    name: str,
    error_level: str,
    *,
    seed: int,
    schema_document: Mapping[str, Any],
    today: date = REFERENCE_DATE,
) -> Prepared:
    """Generate, export, read back and normalise scenario ``name`` at ``error_level``."""
    from encoders.pipeline import normalised_values
    from linkage.schema import parse_schema

    schema = parse_schema(dict(schema_document))
    fields = list(schema.normalisers.items())
    town = scenario(name, error_level, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        records = baselines.read_exports(town.write_exports(Path(tmp)))
    ids, values = [], []
    for recs in records.values():
        body_ids, body_values = [], []
        for rec in recs:
            row, issues = normalised_values(rec, fields, today)
            if any(severity == "error" for _, severity, _ in issues):
                continue
            body_ids.append(rec["record_id"].strip())
            body_values.append(row)
        ids.append(body_ids)
        values.append(body_values)
    return Prepared(
        label=f"{name}-{error_level}-s{seed}",
        bodies=list(records),
        ids=ids,
        values=values,
        fields=[f for f, _ in fields],
        truth=dict(town.truth),
        subgroups=town.subgroups(),
        twin_pairs=list(town.twin_pairs()),
    )


def bits_of(document: Mapping[str, Any]) -> dict[str, int]:
    """``{field: bitsPerFeature}`` of a schema document."""
    return {
        f["identifier"]: int(f["hashing"]["strategy"]["bitsPerFeature"])
        for f in document["features"]
    }


def with_bits(
    document: Mapping[str, Any], bits: Mapping[str, int], threshold: float | None = None
) -> dict[str, Any]:
    """A copy of ``document`` with ``bitsPerFeature`` (and the default threshold) replaced."""
    out = copy.deepcopy(dict(document))
    for feature in out["features"]:
        if feature["identifier"] in bits:
            feature["hashing"]["strategy"]["bitsPerFeature"] = int(bits[feature["identifier"]])
    if threshold is not None:
        out["kakehashi"]["default_threshold"] = threshold
    return out


def encode(prepared: Prepared, document: Mapping[str, Any]) -> list[np.ndarray]:
    """CLKs of every body under ``document``: one ``(n_b, l/8)`` uint8 array per body."""
    from encoders.hashing import ClkHasher
    from linkage.schema import parse_schema

    schema = parse_schema(dict(document))
    if schema.field_names != prepared.fields:
        raise ValueError("candidate schema must keep the prepared fields and their order")
    hasher = ClkHasher(schema, baselines.BENCHMARK_SECRET)
    return [hasher.hash_rows(rows) for rows in prepared.values]


def sweep(
    prepared: Prepared, clks: Sequence[np.ndarray], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict[str, Any]]:
    """Score ``link(clks, threshold=t)`` for each ``t``: ``{"threshold", **LinkageScores}``."""
    method = baselines.ClkMethod("kakehashi", prepared.bodies, prepared.ids, clks, thresholds)
    return [
        {
            "threshold": t,
            **score(
                method.predict(t),
                prepared.truth,
                subgroups=prepared.subgroups,
                twin_pairs=prepared.twin_pairs,
            ).as_dict(),
        }
        for t in thresholds
    ]


def feasible(point: Mapping[str, Any], min_precision: float) -> bool:
    """True when ``point`` meets the precision floor and merges no twins."""
    return point["precision"] >= min_precision and point["twins_merged"] == 0


PENALTY = 10.0
"""Score lost per unit of precision below the floor (averaged over error levels)."""
TWIN_PENALTY = 1.0
"""Score lost when any twin pair is merged at a threshold."""


def objective(points: Sequence[Mapping[str, Any]], min_precision: float) -> float:
    """Score of one threshold over several error levels (higher is better).

    The mean F1 where every level is feasible; otherwise the mean F1 minus
    ``PENALTY`` × the mean precision shortfall and ``TWIN_PENALTY`` if twins merge, so
    that a search far from feasibility still knows which way to go.
    """
    mean_f1 = sum(p["f1"] for p in points) / len(points)
    shortfall = sum(max(0.0, min_precision - p["precision"]) for p in points) / len(points)
    twins = any(p["twins_merged"] for p in points)
    return mean_f1 - PENALTY * shortfall - (TWIN_PENALTY if twins else 0.0)


def choose_threshold(
    curves: Sequence[Sequence[Mapping[str, Any]]], min_precision: float
) -> tuple[float | None, float, bool]:
    """The threshold with the highest :func:`objective`: ``(t, score, feasible)``.

    ``curves`` are sweeps over the same thresholds (one per error level); ``feasible`` is
    True when at that threshold every level meets the precision floor with no twins merged.
    """
    best: tuple[float | None, float, bool] = (None, -math.inf, False)
    for points in zip(*curves, strict=True):
        value = objective(points, min_precision)
        if value > best[1]:
            ok = all(feasible(p, min_precision) for p in points)
            best = (points[0]["threshold"], value, ok)
    return best


@dataclass
class Trial:
    """One evaluated candidate: its weights, chosen threshold, score and curves."""

    bits: dict[str, int]
    threshold: float | None
    score: float
    feasible: bool = False
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able summary: weights, threshold, score and P/R/F1 at that threshold."""
        at = {
            label: next((p for p in curve if p["threshold"] == self.threshold), None)
            for label, curve in self.curves.items()
        }
        return {
            "bits": self.bits,
            "threshold": self.threshold,
            "score": None if math.isinf(self.score) else self.score,
            "feasible": self.feasible,
            "seconds": round(self.seconds, 1),
            "at_threshold": {
                label: None
                if p is None
                else {k: p[k] for k in ("precision", "recall", "f1", "twins_merged")}
                for label, p in at.items()
            },
        }


def evaluate(
    prepared: Sequence[Prepared],
    document: Mapping[str, Any],
    bits: Mapping[str, int],
    *,
    min_precision: float,
    thresholds: Sequence[float] = THRESHOLDS,
) -> Trial:
    """Hash and link every prepared scenario with ``bits``; pick the threshold."""
    t0 = time.perf_counter()
    candidate = with_bits(document, bits)
    curves = {p.label: sweep(p, encode(p, candidate), thresholds) for p in prepared}
    t, value, ok = choose_threshold(list(curves.values()), min_precision)
    return Trial(dict(bits), t, value, ok, curves, time.perf_counter() - t0)


def coordinate_descent(
    prepared: Sequence[Prepared],
    document: Mapping[str, Any],
    *,
    fields: Sequence[str] | None = None,
    factors: Sequence[float] = FACTORS,
    min_precision: float = 0.995,
    min_gain: float = 1e-4,
    max_rounds: int = 3,
    thresholds: Sequence[float] = THRESHOLDS,
    log: Any = print,
) -> tuple[Trial, list[Trial]]:
    """Coordinate descent on ``bitsPerFeature``; returns ``(best trial, every trial)``."""
    bits = bits_of(document)
    fields = list(fields or bits)
    kw = {"min_precision": min_precision, "thresholds": thresholds}
    best = evaluate(prepared, document, bits, **kw)
    history = [best]
    log(f"start  t={best.threshold} score={best.score:.4f} bits={best.bits}")
    for round_no in range(max_rounds):
        improved = False
        for name in fields:
            for factor in factors:
                value = int(min(MAX_BITS, max(MIN_BITS, round(best.bits[name] * factor / 5) * 5)))
                if value == best.bits[name]:
                    continue
                trial = evaluate(prepared, document, {**best.bits, name: value}, **kw)
                history.append(trial)
                log(
                    f"round {round_no} {name}={value:<4d} t={trial.threshold} "
                    f"score={trial.score:.4f} feasible={trial.feasible} ({trial.seconds:.0f}s)"
                )
                if trial.score > best.score + min_gain:
                    best, improved = trial, True
                    log(f"  -> accept {name}={value}")
                    break
        if not improved:
            break
    return best, history


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuning", description=__doc__)
    p.add_argument("--scenario", default="small", choices=("small", "medium", "large"))
    p.add_argument("--error-level", action="append", choices=("clean", "normal", "dirty"))
    p.add_argument("--seed", type=int, default=0, help="seed the search is run on")
    p.add_argument("--confirm-seed", type=int, default=1, help="seed the winner is checked on")
    p.add_argument("--fields", default="", help="comma-separated fields to tune (default all)")
    p.add_argument("--min-precision", type=float, default=0.995)
    p.add_argument("--max-rounds", type=int, default=3)
    p.add_argument(
        "--thresholds",
        default="",
        help="comma-separated Dice thresholds (default 0.600, 0.625, ... 0.900)",
    )
    p.add_argument("--schema", type=Path, default=None, help="start schema (default children-v1)")
    p.add_argument("--out", type=Path, default=None, help="write the search log as JSON here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    from linkage.schema import default_schema, load_schema

    args = _parser().parse_args(argv)
    document = (load_schema(args.schema) if args.schema else default_schema()).document
    levels = args.error_level or ["normal", "dirty"]
    t0 = time.perf_counter()
    search = [
        prepare(args.scenario, lvl, seed=args.seed, schema_document=document) for lvl in levels
    ]
    print(f"prepared {[p.label for p in search]} in {time.perf_counter() - t0:.0f}s", flush=True)
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] or None
    grid = tuple(float(t) for t in args.thresholds.split(",") if t.strip()) or THRESHOLDS
    kw = {"min_precision": args.min_precision, "thresholds": grid}
    best, history = coordinate_descent(
        search,
        document,
        fields=fields,
        **kw,
        max_rounds=args.max_rounds,
        log=lambda line: print(line, flush=True),
    )
    confirm = [
        prepare(args.scenario, lvl, seed=args.confirm_seed, schema_document=document)
        for lvl in levels
    ]
    start = evaluate(confirm, document, bits_of(document), **kw)
    check = evaluate(confirm, document, best.bits, **kw)
    print(f"best on seed {args.seed}: {json.dumps(best.summary(), ensure_ascii=False)}")
    print(f"start schema on seed {args.confirm_seed}: {json.dumps(start.summary())}")
    print(f"best schema on seed {args.confirm_seed}: {json.dumps(check.summary())}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "error_levels": levels,
                    "seed": args.seed,
                    "confirm_seed": args.confirm_seed,
                    "min_precision": args.min_precision,
                    "best": best.summary(),
                    "confirm_start": start.summary(),
                    "confirm_best": check.summary(),
                    "trials": [t.summary() for t in history],
                },
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
