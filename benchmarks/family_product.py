"""Pregnancy → child and payee → household through the product: CLI encoder, a real
``kakehashi serve`` process, the run, and the coordinator's ``results/family`` — scored
against the synthetic truth.

    python -m benchmarks.family_product --children 2000 --seed 0

``benchmarks/family.py`` scores the same algorithms in-process; this one checks that the
product path (family map, family file, upload, server run step, tokens) gives the same
quality. Each body encodes its export (住民記録 with ``--family``, the 妊娠届 with a
``subject = "guardian"`` map) and uploads; the score maps pregnancy tokens and child
tokens back to the truth through the bodies' keys files and the coordinator's token table,
as the bodies would when the coordinator asks them. 福祉's 児童扶養手当 payees are encoded
with a ``subject = "guardian"`` map too; ``payee_household`` scores, per child, whether
its household is marked ``guardian_in = "fukushi"`` against the truth (some guardian of a
child of its true household is a payee).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from apiclient import ApiClient
from encoders.secret import new_secret, write_secret
from kakehashi.cli import main as kakehashi
from kakehashi.demo import running_server
from synthetic.family import generate_families
from synthetic.family.maps import write_family_maps


def _cli(*args: object) -> None:
    try:
        kakehashi([str(a) for a in args])
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"kakehashi {args[0]} failed ({exc.code})") from None


def _keys(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["ref"]: row["record_id"] for row in csv.DictReader(handle)}


def run(children: int = 2000, *, seed: int = 0, error_level: str = "normal") -> dict[str, Any]:
    town = generate_families(children, seed=seed, error_level=error_level)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paths = town.write_exports(tmp / "exports")
        secret = tmp / "s.key"
        write_secret(secret, new_secret())
        maps = write_family_maps(tmp / "maps")
        bodies = [b for b in town.town.bodies]
        t0 = time.perf_counter()
        for body in bodies:
            extra = ["--family", maps[body]] if body in maps else []
            _cli("encode", paths[body], "--secret", secret, "--max-reject-rate", 0.05, *extra)
        for body in ("boshi_ninshin", "fukushi_fuyo"):
            _cli("encode", paths[body], "--secret", secret, "--family", maps[body])
        timings["encode_s"] = time.perf_counter() - t0
        with running_server(tmp / "server") as url:
            operator = (tmp / "server" / "operator.credential").read_text().strip()
            with ApiClient(url, operator) as op:
                project = op.create_project({"name": "family bench", "bodies": bodies})
            pid, creds = project["project_id"], project["credentials"]
            t0 = time.perf_counter()
            for body in bodies:
                with ApiClient(url, creds["bodies"][body]) as client:
                    client.upload(pid, paths[body].with_suffix(".kkh"))
                    if body == "jumin":
                        client.upload_family(pid, paths[body].with_suffix(".family.json"))
                    if body == "boshi":
                        client.upload_family(
                            pid, paths["boshi_ninshin"].with_suffix(".family.json")
                        )
                    if body == "fukushi":
                        client.upload_family(pid, paths["fukushi_fuyo"].with_suffix(".family.json"))
            timings["upload_s"] = time.perf_counter() - t0
            with ApiClient(url, creds["coordinator"]) as coord:
                t0 = time.perf_counter()
                rid = coord.start_run(pid)["run_id"]
                done = coord.wait_run(pid, rid)
                timings["run_s"] = time.perf_counter() - t0
                rows = coord.get_json(f"/projects/{pid}/results/tokens?format=json")["rows"]
                family = coord.family_results(pid)
        # -- the bodies' keys files turn refs back into their records -------------------
        person_of: dict[tuple[str, str], str] = {}
        for body in bodies:
            export = town.town.bodies[body]
            pid_of = dict(zip(export.record_ids, export.person_ids, strict=True))
            for ref, record in _keys(paths[body].with_name(paths[body].stem + ".keys.csv")).items():
                person_of[(body, ref)] = pid_of[record]
        preg_record = _keys(
            paths["boshi_ninshin"].with_name(paths["boshi_ninshin"].stem + ".family.keys.csv")
        )
    token_persons: dict[str, Counter[str]] = {}
    for token, body, ref in rows:
        token_persons.setdefault(token, Counter())[person_of[(body, ref)]] += 1
    person_of_token = {t: c.most_common(1)[0][0] for t, c in token_persons.items()}
    predicted = {
        (preg_record[p["ref"]], person_of_token[c])
        for p in family["pregnancies"]
        for c in p["children"]
    }
    truth = {(p.record_id, c) for p in town.families.pregnancies for c in p.children}
    hits = len(predicted & truth)
    # payee → household: is the child's household marked as having a payee guardian?
    true_house = town.families.household_of()
    payees = set(town.families.payees)
    payee_houses = {
        true_house[c]
        for c, gs in town.families.child_guardians.items()
        if c in true_house and any(g in payees for g, _ in gs)
    }
    household = dict(family["households"])
    marked = {h for h, body in family.get("guardian_bodies", []) if body == "fukushi"}
    children_seen = {person_of_token[t] for t in household if t in person_of_token}
    payee_truth = {c for c in children_seen if true_house.get(c) in payee_houses}
    payee_pred = {person_of_token[t] for t, h in household.items() if h in marked}
    payee_hits = len(payee_truth & payee_pred)
    open_truth = {p.record_id for p in town.families.pregnancies if not p.children}
    open_pred = {preg_record[p["ref"]] for p in family["pregnancies"] if not p["children"]}
    return {
        "children": children,
        "seed": seed,
        "error_level": error_level,
        "pregnancies": len(family["pregnancies"]),
        "true_links": len(truth),
        "predicted_links": len(predicted),
        "precision": hits / len(predicted) if predicted else 1.0,
        "recall": hits / len(truth) if truth else 1.0,
        "open_true": len(open_truth),
        "open_predicted": len(open_pred),
        "open_agree": len(open_truth & open_pred),
        "payee_household": {
            "children_true": len(payee_truth),
            "children_marked": len(payee_pred),
            "precision": payee_hits / len(payee_pred) if payee_pred else 1.0,
            "recall": payee_hits / len(payee_truth) if payee_truth else 1.0,
        },
        "run_stats": done.get("stats", {}).get("family"),
        "timings": timings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--error-level", default="normal")
    args = parser.parse_args(argv)
    result = run(args.children, seed=args.seed, error_level=args.error_level)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
