"""Run every attack on one schema and write ``privacy.{json,md}``.

    python -m benchmarks.privacy                      # default schema, 20 000 children
    python -m benchmarks.privacy --children 2000 --hardening '{"xor_fold": 1}'
    python -m benchmarks.privacy --configs            # every hardening config of the frontier

The target is the resident register (``jumin``) body's encodings; duplicate statistics
compare it with the schools' (``gakko``) body. Numbers are in-sample on the synthetic
generator (``synthetic.generate``, the given seed).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import baselines
from benchmarks.privacy import attacks
from benchmarks.privacy.data import ATTACKER_SECRET, World, build_world, encode
from linkage.schema import LinkageSchema, builtin_schema, default_schema, parse_schema

RESULTS_ROOT = Path(__file__).resolve().parent.parent / "results"
OVERLAPS = (1.0, 0.5, 0.1)
SALT = {"field": "date_of_birth", "chars": 4, "fields": []}
N_SEEDS = 10

CONFIGS: dict[str, dict[str, Any]] = {
    "none": {},
    "xor_fold": {"xor_fold": 1},
    "balance": {"balance": True},
    "permute+rule90": {"permute": True, "rule90": True},
    "diffuse3": {"diffuse": {"taps": 3}},
    "salt_year": {"salt": SALT},
    "blip_e4": {"blip": {"epsilon": 4.0}},
    "noise8": {"noise": {"bits": 8}},
    "balance+noise4": {"balance": True, "noise": {"bits": 4}},
    "xor_fold+noise4": {"xor_fold": 1, "noise": {"bits": 4}},
    "l2048+xor_fold": {"clk_bits": 2048, "xor_fold": 1},
    "l2048+xor_fold+noise4": {"clk_bits": 2048, "xor_fold": 1, "noise": {"bits": 4}},
    "l2048+xor_fold+permute+rule90+noise4": {
        "clk_bits": 2048,
        "xor_fold": 1,
        "permute": True,
        "rule90": True,
        "noise": {"bits": 4},
    },
    "xor_fold+blip_e5": {"xor_fold": 1, "blip": {"epsilon": 5.0}},
}
"""Hardening blocks compared on the frontier (``fields: []`` = every field but the salt's;
``clk_bits``: the CLK is hashed into that many bits before the steps)."""


def with_hardening(schema: LinkageSchema, block: dict[str, Any], label: str) -> LinkageSchema:
    """``schema`` with ``kakehashi.hardening`` replaced by ``block`` (see
    ``benchmarks.baselines.with_hardening``), named after ``label``."""
    hardened = baselines.with_hardening(schema, block)
    document = hardened.document
    document["kakehashi"]["name"] = f"{schema.name}+{label}" if block else schema.name
    return parse_schema(document, source=f"privacy benchmark config {label}")


def _truth_names(world: World, key: str) -> tuple[list[str], list[str], list[int]]:
    persons = world.persons
    ids = world.bodies[key].person_ids
    sur = [persons[p].surname.kanji for p in ids]
    giv = [persons[p].given.kanji for p in ids]
    return sur, giv, [len(s) + len(g) for s, g in zip(sur, giv, strict=True)]


def attack_world(world: World, *, seed: int = 0, quick: bool = False) -> dict[str, Any]:
    """Every attack on ``world``'s jumin encodings; returns the results by attack."""
    rng = random.Random(seed)
    target = world.bodies["jumin"]
    n = len(target.person_ids)
    sur, giv, lengths = _truth_names(world, "jumin")
    population = Counter((p.surname.kanji, p.given.kanji) for p in world.persons.values())
    out: dict[str, Any] = {"records": n}
    t0 = time.perf_counter()
    out["frequency"] = attacks.frequency_attack(target.clks, sur, giv, population)
    out["frequency"]["seconds"] = time.perf_counter() - t0
    out["graph"] = {}
    decoded = None
    for overlap in OVERLAPS:
        members = sorted(rng.sample(range(n), max(N_SEEDS + 1, round(overlap * n))))
        index, roster = encode([target.records[i] for i in members], world.schema, ATTACKER_SECRET)
        truth = np.asarray([members[i] for i in index.tolist()], dtype=np.int64)
        for n_seeds in (0, N_SEEDS):
            if quick and overlap == 0.1 and n_seeds == 0:
                continue
            picks = rng.sample(range(len(truth)), n_seeds)
            seeds = [(int(truth[j]), j) for j in picks]
            t0 = time.perf_counter()
            res = attacks.graph_attack(target.clks, roster, truth, seeds=seeds)
            matches = res.pop("matches")
            res["seconds"] = time.perf_counter() - t0
            res["roster_share"] = res["correct"] / len(truth)
            label = f"roster{int(overlap * 100)}_seeds{n_seeds}"
            out["graph"][label] = res
            if overlap == 0.5 and n_seeds == N_SEEDS:
                roster_sur = [sur[t] for t in truth.tolist()]
                decoded = attacks.pattern_decode(target.clks, matches, roster_sur, sur)
    out["decode_surname"] = decoded
    out["duplicates"] = attacks.duplicate_share(target.clks, world.bodies["gakko"].clks)
    out["popcount"] = attacks.popcount_leakage(target.clks, lengths)
    return out


def worst_graph(result: dict[str, Any]) -> dict[str, float]:
    """The two graph-attack numbers the targets name."""
    g = result["graph"]
    return {
        "roster50_seeds10": g["roster50_seeds10"]["reidentified"],
        "roster100_seeds0": g["roster100_seeds0"]["reidentified"],
    }


def run_config(
    label: str, block: dict[str, Any], n_children: int, seed: int, quick: bool = False
) -> dict[str, Any]:
    """Build the world with one hardening block and attack it.

    ``label == "default"``: the shipped default schema as it is; any other label: the
    unhardened ``children-v1`` with ``block``.
    """
    if label == "default":
        schema = default_schema()
    else:
        schema = with_hardening(builtin_schema("children-v1"), block, label)
    t0 = time.perf_counter()
    world = build_world(n_children, schema, seed=seed)
    encode_s = time.perf_counter() - t0
    result = attack_world(world, seed=seed, quick=quick)
    result.update(
        config=label,
        hardening=block,
        schema_id=schema.schema_id,
        bit_length=schema.bit_length,
        n_children=n_children,
        seed=seed,
        encode_s=encode_s,
        seconds=time.perf_counter() - t0,
    )
    return result


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def markdown(results: list[dict[str, Any]]) -> str:
    """The report table: one row per config."""
    lines = [
        "# Privacy: attacks on the encodings",
        "",
        "In-sample, synthetic generator (`synthetic.generate`); target = the jumin body's "
        "encodings. Re-identified = share of the target's encoded records named correctly; "
        "precision = correct / guesses. Graph attack columns: roster share of the body, seeds.",
        "",
        "| config | children | bits | frequency (prec.) | graph 100 %/0 | graph 100 %/10 | "
        "graph 50 %/0 | graph 50 %/10 (prec.) | graph 10 %/10 | surname decode (prec.) | "
        "dup. CLKs jumin→gakko | corr(popcount, name length) | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        g = r["graph"]

        def cell(key: str, g: dict[str, Any] = g) -> str:
            return _pct(g[key]["reidentified"]) if key in g else "–"

        dec = r["decode_surname"] or {"reidentified": 0.0, "precision": 0.0}
        corr = r["popcount"]["corr_name_length"]
        lines.append(
            f"| {r['config']} | {r['n_children']} | {r['bit_length']} | "
            f"{_pct(r['frequency']['reidentified'])} ({_pct(r['frequency']['precision'])}) | "
            f"{cell('roster100_seeds0')} | {cell('roster100_seeds10')} | "
            f"{cell('roster50_seeds0')} | {cell('roster50_seeds10')} "
            f"({_pct(g['roster50_seeds10']['precision'])}) | {cell('roster10_seeds10')} | "
            f"{_pct(dec['reidentified'])} ({_pct(dec['precision'])}) | "
            f"{_pct(r['duplicates']['a_in_b'])} | "
            f"{'constant' if corr is None else f'{corr:.2f}'} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(results: list[dict[str, Any]], folder: Path, stem: str = "privacy") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / f"{stem}.json", folder / f"{stem}.md"
    js.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    md.write_text(markdown(results), encoding="utf-8")
    return [js, md]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.privacy", description=__doc__)
    p.add_argument("--children", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--hardening",
        default=None,
        help="a hardening block as JSON (default: the default schema's own)",
    )
    p.add_argument("--configs", action="store_true", help="every config of the frontier")
    p.add_argument("--quick", action="store_true", help="skip the 10 %% roster without seeds")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<date>")
    p.add_argument("--stem", default="privacy")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = args.out or RESULTS_ROOT / date.today().isoformat()
    if args.configs:
        todo = list(CONFIGS.items())
    elif args.hardening is not None:
        todo = [("custom", json.loads(args.hardening))]
    else:
        todo = [("default", default_schema().hardening)]
    results = []
    for label, block in todo:
        result = run_config(label, block, args.children, args.seed, args.quick)
        results.append(result)
        print(markdown([result]).splitlines()[-1], flush=True)
    written = write_report(results, out, args.stem)
    print(f"report: {', '.join(str(p) for p in written)}")
    return 0
