"""Deduplication on municipal data: does a deduplicating body start grouping siblings?

    python -m benchmarks.dedup_municipal --generator kawase --size 5000 --secrets 3 \\
        --out benchmarks/results/<date>-<name>

A municipal body holds at most one record per child, so when every body is linked with
deduplication switched on (``engine.link(..., dedup=[True] * n_bodies)``), every pair of
one body's records put into one group is a wrong merge: two different children (often
siblings or twins of one household, who share a surname, an address and parents). This
benchmark links the generated town that way with ``benchmarks.quality.kakehashi_run``
(default schema, learned threshold) under several secrets and reports the usual scores
(``quality.evaluate``: F1, precision, recall over cross-body pairs, sibling and twin merges)
plus ``same_body_pairs``, the pairs of one body's records grouped together, and, with
``--plain``, the same run without deduplication for reference.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Hashable, Mapping
from math import comb
from pathlib import Path
from typing import Any

from benchmarks.quality import (
    Dataset,
    RecordKey,
    _agg,
    _fmt,
    evaluate,
    kakehashi_run,
    municipal_dataset,
    secrets,
)

KEYS = ("f1", "precision", "recall", "sibling_merges", "twin_merges", "same_body_pairs",
        "dedup_refused", "review_groups", "threshold", "support_floor")  # fmt: skip


def same_body_pairs(pred: Mapping[RecordKey, Hashable], ds: Dataset) -> int:
    """Pairs of records of one body that share a predicted group (each is two different
    children on municipal data)."""
    per_group: Counter[tuple[str, Hashable]] = Counter()
    for body, rid in ds.truth:
        per_group[(body, pred.get((body, rid), ("single", body, rid)))] += 1
    return sum(comb(k, 2) for k in per_group.values())


def run(ds: Dataset, keys: list[bytes], dedup: bool) -> dict[str, Any]:
    runs = []
    for key in keys:
        pred, flagged, info = kakehashi_run(ds, key, dedup=dedup)
        ev = evaluate(pred, ds, flagged)
        runs.append({
            "f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"],
            "sibling_merges": ev["sibling_merges"], "twin_merges": ev["twin_merges"],
            "same_body_pairs": same_body_pairs(pred, ds),
            "dedup_refused": info.get("dedup_refused", 0.0),
            "review_groups": info.get("review_groups", 0.0),
            "threshold": info.get("threshold"), "link_s": info.get("link_s"),
            "support_floor": info.get("support_floor"),
            "review": ev["review"],
        })  # fmt: skip
    return {"runs": runs, **{k: _agg([r[k] for r in runs]) for k in KEYS}}


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| data set | dedup | F1 | precision | recall | sibling merges | twin merges |"
             " same-body pairs | refused | review groups | threshold | support floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        cells = [_fmt(r[k]) for k in ("f1", "precision", "recall")]
        cells += [_fmt(r[k], 1) for k in ("sibling_merges", "twin_merges", "same_body_pairs",
                                          "dedup_refused", "review_groups")]  # fmt: skip
        cells += [_fmt(r["threshold"], 3), _fmt(r["support_floor"], 3)]
        lines.append(f"| {r['dataset']} | {r['dedup']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dedup_municipal", description=__doc__)
    p.add_argument("--generator", default="kawase", choices=("kawase", "synthetic"))
    p.add_argument("--size", type=int, default=5000, help="children in the generated town")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", default="normal", help="error level of the generator")
    p.add_argument("--secrets", type=int, default=3)
    p.add_argument("--plain", action="store_true", help="also link without deduplication")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    ds = municipal_dataset(args.generator, args.size, args.seed, args.level)
    keys = secrets(args.secrets)
    results = []
    for dedup in [True, False] if args.plain else [True]:
        t0 = time.perf_counter()
        res = {"dataset": ds.name, "size": args.size, "seed": args.seed, "dedup": dedup,
               "records": {b: len(r) for b, r in ds.records.items()},
               **run(ds, keys, dedup)}  # fmt: skip
        res["seconds"] = time.perf_counter() - t0
        results.append(res)
        print(markdown([res]), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"dedup-{ds.name}-{args.size}"
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
