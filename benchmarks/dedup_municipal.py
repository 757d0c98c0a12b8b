"""Deduplication on municipal data: does a deduplicating body start grouping siblings?

    python -m benchmarks.dedup_municipal --generator kawase --size 5000 --secrets 3 \\
        --floor-margin 0,0.05 --out benchmarks/results/<date>-<name>
    python -m benchmarks.dedup_municipal --generator kawase --size 5000 --secrets 3 \\
        --dedup-bodies jumin --duplicates 0.03 --plain --out …

A municipal body holds at most one record per child, so when every body is linked with
deduplication switched on (``engine.link(..., dedup=[True] * n_bodies)``), every pair of
one body's records put into one group is a wrong merge: two different children (often
siblings or twins of one household, who share a surname, an address and parents). This
benchmark links the generated town that way with ``benchmarks.quality.kakehashi_run``
(default schema, learned threshold) under several secrets and reports the usual scores
(``quality.evaluate``: F1, precision, recall over cross-body pairs, sibling and twin merges)
plus ``same_body_pairs``, the pairs of two different children of one body grouped
together, and, with ``--plain``, the same run without deduplication for reference.

``--dedup-bodies B1,B2,…`` switches deduplication on for those bodies only (default:
every body), the set-up of a project where one body's export may repeat a child.
``--duplicates SHARE`` plants a second record for that share of the first deduplicating
body's records (``with_duplicates``: a typing error, the address before a move, or an
empty optional field), so the run also shows how many true duplicates the rule still
groups (``duplicates_found``); the scores then count pairs within one body too.

``--floor-margin M1,M2,…`` also links the *same* CLKs (each secret's encoding is made once:
the default schema's hardening draws fresh noise per encoding, so only a paired run tells
rules apart) with the support floor of the dedup rule (``linkage.clustering.support_floor``)
replaced by the fixed ``threshold - M`` (``0``: the rule before the floor went below the
threshold). ``--generator febrl3`` runs FEBRL3 (one body of true duplicates) the same way;
there ``same_body_pairs`` counts pairs of different people grouped together.
"""

from __future__ import annotations

import argparse
import json
import random
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
from synthetic.kawase.typos import kanji_typo, keyed_typo

#: How a planted duplicate differs from its original (one change each, equal shares): a
#: typing error in the name or its reading, the address before a move (another record's
#: address), or an optional field left empty (reading, sex or address).
DUPLICATE_KINDS = ("typo", "moved", "blank")
_NAME_FIELDS = ("full_name", "full_kana", "given_name", "given_kana", "surname", "surname_kana")


def with_duplicates(ds: Dataset, body: str, share: float, seed: int = 0) -> Dataset:
    """``ds`` with a second record planted for ``share`` of ``body``'s records: the copy
    of a record (same person in the truth, a new record id) with one change of
    ``DUPLICATE_KINDS``, as a re-registration or a row typed twice leaves in an export.
    Without planted duplicates a municipal body holds one record per child, so a
    deduplication rule could refuse every merge and look perfect. A typing error the
    name cannot take (no homophone in ten tries) leaves an exact copy, as a row typed
    twice does."""
    rng = random.Random(f"kakehashi-duplicates-{seed}")
    rows = ds.records[body]
    truth = dict(ds.truth)
    planted: list[dict[str, Any]] = []
    for i, row in enumerate(rng.sample(rows, round(share * len(rows)))):
        copy = dict(row)
        copy["record_id"] = f"{row['record_id']}-dup{i}"
        kind = DUPLICATE_KINDS[i % len(DUPLICATE_KINDS)]
        if kind == "typo":
            names = [f for f in _NAME_FIELDS if copy.get(f)]
            f = rng.choice(names)
            typo = keyed_typo if "kana" in f else kanji_typo
            for _ in range(10):  # a homophone may not exist for the name: retry
                changed = typo(copy[f], rng)
                if changed != copy[f]:
                    copy[f] = changed
                    break
        elif kind == "moved":
            other = rng.choice(rows)
            for _ in range(1000):
                if other.get("address") != row.get("address"):
                    break
                other = rng.choice(rows)
            else:
                raise ValueError(f"with_duplicates: {body!r} holds no other address to move from")
            copy["address"] = other.get("address")
        else:
            kana = [f for f in ("full_kana", "given_kana") if copy.get(f)]
            f = rng.choice([*kana[:1], "sex", "address"])
            copy[f] = ""
        planted.append(copy)
        truth[(body, copy["record_id"])] = ds.truth[(body, row["record_id"])]
    records = {b: (list(r) + planted if b == body else list(r)) for b, r in ds.records.items()}
    # dedup=True: the scores count pairs within one body (an original and its copy).
    return Dataset(f"{ds.name}+dup", records, truth, subgroups=ds.subgroups,
                   twin_pairs=ds.twin_pairs, household=ds.household, dedup=True)  # fmt: skip


KEYS = ("f1", "precision", "recall", "sibling_merges", "twin_merges", "same_body_pairs",
        "duplicates_found", "dedup_refused", "review_groups", "threshold",
        "support_floor", "same_body_floor", "same_body_share", "dedup_refused_same")  # fmt: skip


def same_body_pairs(pred: Mapping[RecordKey, Hashable], ds: Dataset) -> int:
    """Pairs of records of one body that share a predicted group and belong to two
    different people (on municipal data: two different children)."""
    per_group: dict[tuple[str, Hashable], Counter[str]] = {}
    for (body, rid), person in ds.truth.items():
        g = (body, pred.get((body, rid), ("single", body, rid)))
        per_group.setdefault(g, Counter())[person] += 1
    total = 0
    for people in per_group.values():
        k = sum(people.values())
        total += comb(k, 2) - sum(comb(c, 2) for c in people.values())
    return total


def duplicates_found(pred: Mapping[RecordKey, Hashable], ds: Dataset) -> float | None:
    """Share of the pairs of one person's records within one body (planted duplicates)
    that share a predicted group; ``None`` where there are none."""
    by_person: dict[tuple[str, str], list[Hashable]] = {}
    for (body, rid), person in ds.truth.items():
        by_person.setdefault((body, person), []).append(pred.get((body, rid), ("single", rid)))
    pairs = found = 0
    for groups in by_person.values():
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                pairs += 1
                found += a == b
    return found / pairs if pairs else None


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


Dedup = tuple[bool, ...] | None


def _one(ds: Dataset, key: bytes, encoded: Any, dedup: Dedup, margin: float | None
         ) -> dict[str, Any]:  # fmt: skip
    with fixed_floor(margin):
        pred, flagged, info = kakehashi_run(ds, key, dedup=list(dedup) if dedup else False,
                                            encoded=encoded)  # fmt: skip
    ev = evaluate(pred, ds, flagged)
    floor = info.get("support_floor")
    if margin is not None and floor is None and dedup:
        floor = info["threshold"] - margin
    return {
        "f1": ev["f1"], "precision": ev["precision"], "recall": ev["recall"],
        "sibling_merges": ev["sibling_merges"], "twin_merges": ev["twin_merges"],
        "same_body_pairs": same_body_pairs(pred, ds),
        "duplicates_found": duplicates_found(pred, ds),
        "dedup_refused": info.get("dedup_refused", 0.0),
        "review_groups": info.get("review_groups", 0.0),
        "threshold": info.get("threshold"), "support_floor": floor,
        "same_body_floor": info.get("same_body_floor"),
        "same_body_share": info.get("same_body_share"),
        "dedup_refused_same": info.get("dedup_refused_same"),
        "link_s": info.get("link_s"), "review": ev["review"],
    }  # fmt: skip


def _dedup_name(ds: Dataset, dedup: Dedup) -> str:
    if not dedup:
        return "none"
    if all(dedup):
        return "all"
    return ",".join(b for b, on in zip(ds.records, dedup, strict=True) if on)


def run(ds: Dataset, keys: list[bytes], settings: list[tuple[Dedup, float | None]]
        ) -> list[dict[str, Any]]:  # fmt: skip
    """One result per ``(dedup flags, floor margin)`` setting (``None``: ``support_floor``),
    each secret's CLKs shared by all settings."""
    runs: dict[tuple[Dedup, float | None], list[dict[str, Any]]] = {s: [] for s in settings}
    for key in keys:
        encoded = kakehashi_encode(ds, key)
        for dedup, margin in settings:
            runs[(dedup, margin)].append(_one(ds, key, encoded, dedup, margin))
    return [{"dataset": ds.name, "dedup": _dedup_name(ds, dedup), "floor_margin": margin,
             "runs": r, **{k: _agg([x[k] for x in r]) for k in KEYS}}
            for (dedup, margin), r in runs.items()]  # fmt: skip


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| data set | dedup | support from | F1 | precision | recall | sibling merges |"
             " twin merges | same-body pairs | duplicates found | refused | review groups |"
             " threshold | support floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        cells = [_fmt(r[k]) for k in ("f1", "precision", "recall")]
        cells += [_fmt(r[k], 1) for k in ("sibling_merges", "twin_merges", "same_body_pairs")]
        cells += [_fmt(r["duplicates_found"], 3)]
        cells += [_fmt(r[k], 1) for k in ("dedup_refused", "review_groups")]
        cells += [_fmt(r["threshold"], 3), _fmt(r["support_floor"], 3)]
        rule = "support_floor" if r["floor_margin"] is None else f"t − {r['floor_margin']:g}"
        if r["dedup"] == "none":
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
    p.add_argument(
        "--dedup-bodies",
        default="",
        help="deduplicate only these bodies (comma list; default every body)",
    )
    p.add_argument(
        "--duplicates",
        type=float,
        default=0.0,
        help="plant duplicates for this share of the first deduplicating body",
    )
    p.add_argument("--plain", action="store_true", help="also link without deduplication")
    p.add_argument("--floor-margin", default="",
                   help="also with the support floor at threshold - M (comma list)")  # fmt: skip
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.generator == "febrl3":
        ds = febrl3_dataset()
    else:
        ds = municipal_dataset(args.generator, args.size, args.seed, args.level)
    names = [b for b in args.dedup_bodies.split(",") if b]
    unknown = set(names) - set(ds.records)
    if unknown:
        p.error(f"--dedup-bodies: no body {sorted(unknown)}; bodies are {list(ds.records)}")
    flags = tuple(b in names for b in ds.records) if names else (True,) * len(ds.records)
    if args.duplicates:
        target = names[0] if names else next(iter(ds.records))
        ds = with_duplicates(ds, target, args.duplicates, args.seed)
    margins = [float(m) for m in args.floor_margin.split(",") if m]
    settings: list[tuple[Dedup, float | None]] = [(flags, None)] + [(flags, m) for m in margins]
    if args.plain:
        settings.append((None, None))
    t0 = time.perf_counter()
    results = run(ds, secrets(args.secrets), settings)
    for r in results:
        r.update(size=None if ds.name.startswith("febrl") else args.size, seed=args.seed,
                 records={b: len(x) for b, x in ds.records.items()})  # fmt: skip
    print(f"{time.perf_counter() - t0:.1f} s", flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "dedup-" + ds.name + ("" if ds.name.startswith("febrl") else f"-{args.size}")
        if names:
            stem += "-" + "-".join(names)
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
