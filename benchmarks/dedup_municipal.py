"""Deduplication on municipal data: does a deduplicating body start grouping siblings?

    python -m benchmarks.dedup_municipal --generator kawase --size 5000 --secrets 3 \\
        --floor-margin 0,0.05 --out benchmarks/results/<date>-<name>

A municipal body holds at most one record per child, so when every body is linked with
deduplication switched on (``engine.link(..., dedup=[True] * n_bodies)``), every pair of
one body's records put into one group is a wrong merge: two different children (often
siblings or twins of one household, who share a surname, an address and parents). This
benchmark links the generated town that way with ``benchmarks.quality.kakehashi_run``
(default schema, learned threshold) under several secrets and reports the usual scores
(``quality.evaluate``: F1, precision, recall over cross-body pairs, sibling and twin merges)
plus ``same_body_pairs``, the pairs of one body's records grouped together, and, with
``--plain``, the same run without deduplication for reference.

``--floor-margin M1,M2,…`` also links the *same* CLKs (each secret's encoding is made once:
the default schema's hardening draws fresh noise per encoding, so only a paired run tells
rules apart) with the support floor of the dedup rule (``linkage.clustering.support_floor``)
replaced by the fixed ``threshold - M`` (``0``: the rule before the floor went below the
threshold). ``--generator febrl3`` runs FEBRL3 (one body of true duplicates) the same way;
there ``same_body_pairs`` counts pairs grouped together, right or wrong.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from math import comb
from pathlib import Path
from typing import Any

from benchmarks.quality import (
    Dataset,
    RecordKey,
    _agg,
    _fmt,
    evaluate,
    febrl3_dataset,
    kakehashi_encode,
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


@contextmanager
def fixed_floor(margin: float | None) -> Iterator[None]:
    """With ``margin``, the engine's clustering counts support from ``threshold - margin``
    instead of ``clustering.support_floor`` (a comparison, not a setting of the product)."""
    from linkage import clustering, engine

    if margin is None:
        yield
        return

    def cluster(*args: Any, threshold: float, **kwargs: Any) -> Any:
        return clustering.cluster(*args, threshold=threshold,
                                  floor=max(0.0, threshold - margin), **kwargs)  # fmt: skip

    engine.cluster = cluster  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.cluster = clustering.cluster


def _one(ds: Dataset, key: bytes, encoded: Any, dedup: bool, margin: float | None
         ) -> dict[str, Any]:  # fmt: skip
    with fixed_floor(margin):
        pred, flagged, info = kakehashi_run(ds, key, dedup=dedup, encoded=encoded)
    ev = evaluate(pred, ds, flagged)
    floor = info.get("support_floor")
    if margin is not None and floor is None and dedup:
        floor = info["threshold"] - margin
    return {
        "f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"],
        "sibling_merges": ev["sibling_merges"], "twin_merges": ev["twin_merges"],
        "same_body_pairs": same_body_pairs(pred, ds),
        "dedup_refused": info.get("dedup_refused", 0.0),
        "review_groups": info.get("review_groups", 0.0),
        "threshold": info.get("threshold"), "support_floor": floor,
        "link_s": info.get("link_s"), "review": ev["review"],
    }  # fmt: skip


def run(ds: Dataset, keys: list[bytes], settings: list[tuple[bool, float | None]]
        ) -> list[dict[str, Any]]:  # fmt: skip
    """One result per ``(dedup, floor margin)`` setting (``None``: ``support_floor``), each
    secret's CLKs shared by all settings."""
    runs: dict[tuple[bool, float | None], list[dict[str, Any]]] = {s: [] for s in settings}
    for key in keys:
        encoded = kakehashi_encode(ds, key)
        for dedup, margin in settings:
            runs[(dedup, margin)].append(_one(ds, key, encoded, dedup, margin))
    return [{"dataset": ds.name, "dedup": dedup, "floor_margin": margin, "runs": r,
             **{k: _agg([x[k] for x in r]) for k in KEYS}}
            for (dedup, margin), r in runs.items()]  # fmt: skip


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| data set | dedup | support from | F1 | precision | recall | sibling merges |"
             " twin merges | same-body pairs | refused | review groups | threshold |"
             " support floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        cells = [_fmt(r[k]) for k in ("f1", "precision", "recall")]
        cells += [_fmt(r[k], 1) for k in ("sibling_merges", "twin_merges", "same_body_pairs",
                                          "dedup_refused", "review_groups")]  # fmt: skip
        cells += [_fmt(r["threshold"], 3), _fmt(r["support_floor"], 3)]
        rule = "support_floor" if r["floor_margin"] is None else f"t − {r['floor_margin']:g}"
        if not r["dedup"]:
            rule = "–"
        lines.append(f"| {r['dataset']} | {r['dedup']} | {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dedup_municipal", description=__doc__)
    p.add_argument("--generator", default="kawase", choices=("kawase", "synthetic", "febrl3"))
    p.add_argument("--size", type=int, default=5000, help="children in the generated town")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", default="normal", help="error level of the generator")
    p.add_argument("--secrets", type=int, default=3)
    p.add_argument("--plain", action="store_true", help="also link without deduplication")
    p.add_argument("--floor-margin", default="",
                   help="also with the support floor at threshold - M (comma list)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.generator == "febrl3":
        ds = febrl3_dataset()
    else:
        ds = municipal_dataset(args.generator, args.size, args.seed, args.level)
    margins = [float(m) for m in args.floor_margin.split(",") if m]
    settings: list[tuple[bool, float | None]] = [(True, None)] + [(True, m) for m in margins]
    if args.plain and not ds.dedup:
        settings.append((False, None))
    t0 = time.perf_counter()
    results = run(ds, secrets(args.secrets), settings)
    for r in results:
        r.update(size=None if ds.name.startswith("febrl") else args.size, seed=args.seed,
                 records={b: len(x) for b, x in ds.records.items()})  # fmt: skip
    print(f"{time.perf_counter() - t0:.1f} s", flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "dedup-" + ds.name + ("" if ds.name.startswith("febrl") else f"-{args.size}")
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
