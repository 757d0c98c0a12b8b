"""Family benchmark: pregnancy → child and child → household links on the synthetic town.

    python -m benchmarks.family --children 20000 --seed 0 --error-level normal
    kakehashi bench family --children 20000

One run generates a town with families (``synthetic/family``), writes every body's export,
reads the files back with the department reader, and then does in-process what the
product does:

1. encodes children's records of the five bodies and links them
   (``encoders.pipeline.encode_rows`` + ``linkage.engine.link``, default schema and
   threshold);
2. encodes guardians — 住民記録's ``保護者N_*`` columns (one CLK per distinct guardian
   宛名番号), 母子保健's 妊娠届 mothers (``性別`` = 女), 福祉's 児童扶養手当 payees — with
   the same schema and links them across the three (the 妊娠届 dataset deduplicated:
   one mother, several pregnancies);
3. relates child groups to guardian groups through 住民記録's rows, with each child's
   birth-date tag (``linkage.family.date_tag``), computes households and pregnancy →
   child links (``linkage.family``).

Scored against the generator's truth: precision/recall of pregnancy → child links (per
pregnancy-child pair), of child → household (pairs of children in one household) and of
payee → child; every missed or wrong pregnancy link is put in one category. The results
are in-sample: the generator and the method were written together.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import baselines
from linkage.family import (
    AFTER_DAYS,
    BEFORE_DAYS,
    date_tag,
    derive_tag_key,
    households,
    match_pregnancies,
    pregnancy_window,
    window_offsets,
)
from synthetic import REFERENCE_DATE
from synthetic.family import FamilyTown, generate_families
from synthetic.family.exports import PERSON_COLUMNS
from synthetic.municipality import CANONICAL_KEYS

FUTURE = date(2100, 1, 1)
GUARDIAN_SLOTS = (1, 2)


def _parse(value: str, today: date = FUTURE) -> date | None:
    from encoders.normalise.dates import normalise_date
    from encoders.normalise.issues import NormalisationError

    try:
        text = normalise_date(value, today=today)
    except NormalisationError:
        return None
    return date(int(text[:4]), int(text[4:6]), int(text[6:8])) if text else None


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    from encoders.readers import open_table

    with open_table(path) as table:
        return list(table.headers), [list(cells) for _, cells in table]


@dataclass
class Encoded:
    """Records of one dataset: ids and CLKs of the rows that encoded."""

    ids: list[str]
    clks: np.ndarray


def _encode(records: list[dict[str, str]], schema: Any, secret: bytes) -> Encoded:
    from encoders.pipeline import encode_rows

    enc = encode_rows(records, schema, secret, today=REFERENCE_DATE)
    return Encoded([records[int(i)]["record_id"] for i in enc.index], enc.clks)


def _guardian_records(headers: list[str], rows: list[list[str]]) -> tuple[
    list[dict[str, str]], list[tuple[str, str]]
]:  # fmt: skip
    """住民記録's distinct guardians as canonical records, and (child id, guardian id)."""
    pos = {h: i for i, h in enumerate(headers)}
    by_id: dict[str, dict[str, str]] = {}
    relations: list[tuple[str, str]] = []
    for row in rows:
        child = row[pos["宛名番号"]]
        for n in GUARDIAN_SLOTS:
            gid = row[pos[f"保護者{n}_宛名番号"]].strip()
            if not gid:
                continue
            relations.append((child, gid))
            if gid not in by_id:
                rec = {"record_id": gid}
                for col in PERSON_COLUMNS:
                    rec[CANONICAL_KEYS[col]] = row[pos[f"保護者{n}_{col}"]].strip()
                by_id[gid] = rec
    return list(by_id.values()), relations


def run(
    children: int = 2000,
    *,
    seed: int = 0,
    error_level: str = "normal",
    twins: float = 0.02,
    birth_tags: str = "jumin",
    secret: bytes = baselines.BENCHMARK_SECRET,
) -> dict[str, Any]:
    """One town, end to end in-process; returns the scores and the miss categories.

    ``birth_tags``: ``jumin`` — each child group's birth-date tag comes from its
    住民記録 record (the body that knows the relation); ``all`` — from every record of
    the group in every body (each body uploads a tag with each child's CLK), so one
    mistyped birth date does not lose the link.
    """
    if birth_tags not in ("jumin", "all"):
        raise ValueError(f"birth_tags must be 'jumin' or 'all', not {birth_tags!r}")
    from encoders.columns import resolve_columns
    from linkage.engine import link
    from linkage.schema import default_schema

    schema = default_schema()
    threshold = schema.default_threshold
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ft = generate_families(children, seed=seed, error_level=error_level, twins=twins)
    timings["generate_s"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        paths = ft.write_exports(Path(tmp))
        child_paths = {k: paths[k] for k in ft.town.bodies}
        records = baselines.read_exports(child_paths)
        j_headers, j_rows = _read(paths["jumin"])
        preg_records = baselines.read_exports({"p": paths["boshi_ninshin"]})["p"]
        p_headers, p_rows = _read(paths["boshi_ninshin"])
        payee_records = baselines.read_exports({"f": paths["fukushi_fuyo"]})["f"]
    resolve_columns(p_headers)  # the 妊娠届 file maps with the standard names
    t0 = time.perf_counter()
    # 1. children
    enc_children = {body: _encode(recs, schema, secret) for body, recs in records.items()}
    res_c = link([e.clks for e in enc_children.values()], threshold=threshold)
    jumin_idx = list(enc_children).index("jumin")
    child_group_of = dict(
        zip(enc_children["jumin"].ids, res_c.group_of[jumin_idx].tolist(), strict=True)
    )
    timings["children_s"] = time.perf_counter() - t0
    # 2. guardians
    t0 = time.perf_counter()
    g_records, relations = _guardian_records(j_headers, j_rows)
    for rec in preg_records:
        rec["sex"] = "女"
    enc_g = [_encode(r, schema, secret) for r in (g_records, preg_records, payee_records)]
    res_g = link([e.clks for e in enc_g], threshold=threshold, dedup=[False, True, False])
    g_group = [
        dict(zip(e.ids, g.tolist(), strict=True))
        for e, g in zip(enc_g, res_g.group_of, strict=True)
    ]
    timings["guardians_s"] = time.perf_counter() - t0
    # 3. relations, households, pregnancies
    t0 = time.perf_counter()
    key = derive_tag_key(secret)
    pos = {h: i for i, h in enumerate(j_headers)}
    dob_of = {row[pos["宛名番号"]]: _parse(row[pos["生年月日"]], REFERENCE_DATE) for row in j_rows}
    group_tags: dict[int, set[bytes]] = {}
    if birth_tags == "all":
        for b, (body, enc) in enumerate(enc_children.items()):
            dob_by_id = {r["record_id"]: r.get("date_of_birth", "") for r in records[body]}
            for rid, g in zip(enc.ids, res_c.group_of[b].tolist(), strict=True):
                day = _parse(dob_by_id[rid], REFERENCE_DATE)
                if day is not None:
                    group_tags.setdefault(g, set()).add(date_tag(key, day))
    rel_c, rel_g, rel_tag = [], [], []
    for child, gid in relations:
        if child not in child_group_of or gid not in g_group[0]:
            continue  # a record that did not encode
        dob = dob_of[child]
        cg = child_group_of[child]
        tags = group_tags.get(cg) or ({date_tag(key, dob)} if dob else {b""})
        for tag in sorted(tags):
            rel_c.append(cg)
            rel_g.append(g_group[0][gid])
            rel_tag.append(tag)
    c_arr, g_arr = np.array(rel_c, np.int64), np.array(rel_g, np.int64)
    house = households(c_arr, g_arr, res_c.n_groups)
    p_pos = {h: i for i, h in enumerate(p_headers)}
    preg_ids, preg_group, windows = [], [], []
    for row in p_rows:
        rid = row[p_pos["管理番号"]]
        if rid not in g_group[1]:
            continue
        edd = _parse(row[p_pos["出産予定日"]])
        notified = _parse(row[p_pos["届出日"]])
        preg_ids.append(rid)
        preg_group.append(g_group[1][rid])
        windows.append(pregnancy_window(key, edd, notified))
    links = match_pregnancies(np.array(preg_group, np.int64), windows, c_arr, g_arr, rel_tag)
    timings["family_s"] = time.perf_counter() - t0
    return {
        "children": children,
        "seed": seed,
        "error_level": error_level,
        "twins_rate": twins,
        "birth_tags": birth_tags,
        "threshold": threshold,
        "window_days": [-BEFORE_DAYS, AFTER_DAYS],
        "records": {
            "guardians_jumin": len(g_records),
            "pregnancies": len(p_rows),
            "payees": len(payee_records),
            **{body: len(r) for body, r in records.items()},
        },
        "timings": timings,
        **_score(ft, res_c, g_group, house, links, preg_ids, dob_of, enc_children, key),
    }


def _score(
    ft: FamilyTown,
    res_c: Any,
    g_group: list[dict[str, int]],
    house: np.ndarray,
    links: Any,
    preg_ids: list[str],
    dob_of: dict[str, date | None],
    enc_children: dict[str, Encoded],
    key: bytes,
) -> dict[str, Any]:
    fam = ft.families
    jumin = ft.town.bodies["jumin"]
    pid_of_jumin = dict(zip(jumin.record_ids, jumin.person_ids, strict=True))
    jumin_of_pid = {p: r for r, p in pid_of_jumin.items()}
    jumin_idx = list(enc_children).index("jumin")
    group_pids: dict[int, set[str]] = {}
    for rid, g in zip(enc_children["jumin"].ids, res_c.group_of[jumin_idx].tolist(), strict=True):
        group_pids.setdefault(g, set()).add(pid_of_jumin[rid])
    guardian_jumin = {g.person_id: g.jumin_id for g in fam.guardians.values() if g.jumin_id}
    pregs = {p.record_id: p for p in fam.pregnancies}
    # --- pregnancy -> child
    truth = {(p.record_id, c) for p in fam.pregnancies for c in p.children}
    predicted: set[tuple[str, str]] = set()
    flagged: set[tuple[str, str]] = set()
    for i, g, amb in zip(
        links.preg_index.tolist(), links.child_group.tolist(), links.ambiguous.tolist(),
        strict=True,
    ):  # fmt: skip
        for pid in group_pids.get(g, ()):
            predicted.add((preg_ids[i], pid))
            if amb:
                flagged.add((preg_ids[i], pid))
    tp = truth & predicted
    misses: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for rid, child in sorted(truth - predicted):
        why = _miss_reason(ft, pregs[rid], child, g_group, guardian_jumin, dob_of,
                           jumin_of_pid, key, preg_ids, links)  # fmt: skip
        misses[why] += 1
        examples.setdefault(why, []).append(f"{rid}->{child}")
    wrong: Counter[str] = Counter()
    for rid, child in sorted(predicted - truth):
        preg = pregs[rid]
        mothers = {gid for gid, rel in fam.child_guardians.get(child, []) if rel == "母"}
        if preg.mother_id in mothers:
            why = "a sibling taken by another pregnancy of the same mother"
        else:
            why = "another woman's child (guardian records wrongly linked)"
        wrong[why] += 1
        examples.setdefault(why, []).append(f"{rid}->{child}")
    multiple = [p for p in fam.pregnancies if len(p.children) > 1]
    one_link_each = 0
    for p in multiple:
        groups = {
            g
            for i, g in zip(links.preg_index.tolist(), links.child_group.tolist(), strict=True)
            if preg_ids[i] == p.record_id
        }
        if len(groups) == len(p.children) and all(
            (p.record_id, c) in predicted for c in p.children
        ):
            one_link_each += 1
    jumin_group = dict(
        zip(enc_children["jumin"].ids, res_c.group_of[jumin_idx].tolist(), strict=True)
    )
    merged = sum(
        1
        for p in multiple
        if len({jumin_group.get(jumin_of_pid[c], -1 - i) for i, c in enumerate(p.children)})
        < len(p.children)
    )
    open_true = [p for p in fam.pregnancies if not p.children]
    open_found = set(links.open.tolist())
    open_kept = sum(
        1
        for p in open_true
        if p.record_id in preg_ids and preg_ids.index(p.record_id) in open_found
    )
    # --- child -> household (pairs of children in one household)
    true_house = fam.household_of()
    child_group = {
        pid_of_jumin[rid]: g
        for rid, g in zip(
            enc_children["jumin"].ids, res_c.group_of[jumin_idx].tolist(), strict=True
        )
    }
    pred_house = {pid: int(house[g]) for pid, g in child_group.items()}
    h_tp, h_pred, h_true = _pair_counts(true_house, pred_house)
    # --- payee -> child (through the payee's guardian group)
    payee_export = ft.bodies["fukushi_fuyo"]
    payee_truth = {
        (rid, c)
        for rid, gid in zip(payee_export.record_ids, payee_export.person_ids, strict=True)
        for c, gs in fam.child_guardians.items()
        if any(g == gid for g, _ in gs)
    }
    guardian_group_of_jumin = g_group[0]
    children_of_group: dict[int, set[str]] = {}
    for c, gs in fam.child_guardians.items():
        for gid, _ in gs:
            j = guardian_jumin.get(gid)
            if j in guardian_group_of_jumin:
                children_of_group.setdefault(guardian_group_of_jumin[j], set()).add(c)
    payee_pred = {(rid, c) for rid, g in g_group[2].items() for c in children_of_group.get(g, ())}
    decided = predicted - flagged  # links made without a person's review
    return {
        "pregnancy_child": {
            **_prf(len(tp), len(predicted), len(truth)),
            "unflagged": _prf(len(tp & decided), len(decided), len(truth)),
            "pregnancies": len(fam.pregnancies),
            "open_or_lost": len(open_true),
            "open_or_lost_kept_open": open_kept,
            "multiple_births": len(multiple),
            "multiple_births_one_link_per_child": one_link_each,
            "multiple_births_merged_by_children_linkage": merged,
            "ambiguous_links": int(links.ambiguous.sum()),
            "wrong_links_flagged_ambiguous": len((predicted - truth) & flagged),
            "misses": dict(misses.most_common()),
            "wrong": dict(wrong.most_common()),
            "examples": {k: v[:5] for k, v in examples.items()},
        },
        "child_household": {
            **_prf(h_tp, h_pred, h_true),
            "households_true": len(set(true_house.values())),
            "households_found": len(set(pred_house.values())),
        },
        "payee_child": _prf(len(payee_truth & payee_pred), len(payee_pred), len(payee_truth)),
        "family_types": dict(Counter(fam.family_type.values()).most_common()),
        "pregnancy_events": {
            "surname_changed": sum(p.surname_changed for p in fam.pregnancies),
            "address_moved": sum(p.address_moved for p in fam.pregnancies),
            "edd_revised": sum(p.edd_revised for p in fam.pregnancies),
            "edd_typo": sum(p.edd_typo for p in fam.pregnancies),
        },
    }


def _prf(tp: int, pred: int, true: int) -> dict[str, Any]:
    return {
        "true_positives": tp,
        "predicted": pred,
        "truth": true,
        "precision": tp / pred if pred else 1.0,
        "recall": tp / true if true else 1.0,
    }


def _pair_counts(truth: dict[str, int], pred: dict[str, int]) -> tuple[int, int, int]:
    """Pairs of children together in ``pred`` that are together in ``truth``, and totals."""

    def pairs(labels: dict[str, int]) -> set[tuple[str, str]]:
        by: dict[int, list[str]] = {}
        for c, h in labels.items():
            by.setdefault(h, []).append(c)
        return {
            (a, b) for m in by.values() for i, a in enumerate(sorted(m)) for b in sorted(m)[i + 1 :]
        }

    t, p = pairs(truth), pairs({c: h for c, h in pred.items() if c in truth})
    return len(t & p), len(p), len(t)


def _miss_reason(
    ft: FamilyTown,
    preg: Any,
    child: str,
    g_group: list[dict[str, int]],
    guardian_jumin: dict[str, str],
    dob_of: dict[str, date | None],
    jumin_of_pid: dict[str, str],
    key: bytes,
    preg_ids: list[str],
    links: Any,
) -> str:
    """One category for a missed true pregnancy → child link, first that applies."""
    persons = {p.person_id: p for p in ft.town.persons}
    if preg.record_id not in g_group[1]:
        return "pregnancy record did not encode"
    jid = jumin_of_pid.get(child)
    if jid is None:
        return "child not in 住民記録"
    dob = dob_of.get(jid)
    if dob is None or dob != persons[child].dob:
        return "child's birth date mistyped in 住民記録"
    if preg.edd_typo:
        return "expected date mistyped on the 妊娠届"
    recorded = window_offsets(key, preg.recorded_expected)
    if date_tag(key, dob) not in recorded:
        return "birth outside the window of the recorded expected date" + (
            " (re-dated)" if preg.edd_revised else ""
        )
    mother_j = guardian_jumin.get(preg.mother_id)
    if mother_j is None or mother_j not in g_group[0]:
        return "mother is not the child's guardian in 住民記録"
    if g_group[0][mother_j] != g_group[1][preg.record_id]:
        what = [
            w
            for w, on in (("surname changed", preg.surname_changed), ("moved", preg.address_moved))
            if on
        ]
        return "mother's records not linked" + (f" ({' and '.join(what)})" if what else " (typos)")
    return "taken by another pregnancy of the same mother"


def summary_lines(result: dict[str, Any]) -> list[str]:
    pc, ch, pay = result["pregnancy_child"], result["child_household"], result["payee_child"]
    return [
        f"family benchmark: {result['children']} children, seed {result['seed']}, "
        f"{result['error_level']}, twins rate {result['twins_rate']}, "
        f"birth tags from {result['birth_tags']}",
        f"  pregnancy → child: precision {pc['precision']:.4f}, recall {pc['recall']:.4f} "
        f"({pc['true_positives']}/{pc['truth']} true links, {pc['predicted']} predicted); "
        f"open/lost kept open {pc['open_or_lost_kept_open']}/{pc['open_or_lost']}; "
        f"multiple births one link per child {pc['multiple_births_one_link_per_child']}"
        f"/{pc['multiple_births']}",
        f"  misses: {pc['misses']}",
        f"  wrong: {pc['wrong']}",
        f"  child → household (pairs): precision {ch['precision']:.4f}, "
        f"recall {ch['recall']:.4f} ({ch['households_found']} found, "
        f"{ch['households_true']} true)",
        f"  payee → child: precision {pay['precision']:.4f}, recall {pay['recall']:.4f}",
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.family", description=__doc__)
    p.add_argument("--children", type=int, default=2000)
    p.add_argument("--seed", type=int, action="append", default=None)
    p.add_argument("--error-level", action="append", default=None)
    p.add_argument("--twins", type=float, default=0.02, help="share of households with twins")
    p.add_argument(
        "--birth-tags",
        choices=("jumin", "all"),
        default="jumin",
        help="children's birth tags from 住民記録 only, or from every body's record",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    results = []
    for level in args.error_level or ["normal"]:
        for seed in args.seed or [0]:
            result = run(
                args.children,
                seed=seed,
                error_level=level,
                twins=args.twins,
                birth_tags=args.birth_tags,
            )
            results.append(result)
            print("\n".join(summary_lines(result)), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
