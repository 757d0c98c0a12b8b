"""Two-city demo of cross-municipality linkage (issue 15), end to end through a real server.

Run ``python -m benchmarks.two_cities [--children N] [--movers K] [--out DIR]`` or
``kakehashi bench two-cities``.

* City A and city B are two synthetic municipalities (``synthetic.generate`` with seeds 1
  and 2), each with two bodies: the resident register (``jumin``) and schools (``gakko``).
* ``K`` children of A moved to B: they are in A's older extract at their A address, and in
  B's newer extract (resident register, and schools if they were at school in A) at an
  address in B, each rendered afresh with B's bodies' own formats and errors.
* Each city is its own project with its own secret; its bodies encode with it, upload, and
  its coordinator runs the project. A cross-link between the two projects is proposed,
  approved by both coordinators, and the four bodies encode again under a joint secret,
  re-key to their project refs (``encoders.crosslink``) and upload to it. A cross run
  links the cities; each coordinator downloads its results.
* Scored per city (children, via each body's keys file and the synthetic truth): a child
  counts as found when one of the city's records of that child is in the results;
  precision = found movers / children in the results, recall = found movers / movers.
  Pairs: a link id whose A side and B side are the same child is a correct pair.
* Isolation checks: each coordinator's results hold only its own project's refs, none of
  the other city's refs or tokens, and nothing about its unmatched children.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

BODIES = ("jumin", "gakko")


def _towns(children: int, movers: int, seed: int) -> tuple[Any, Any, dict, dict, set[str]]:
    """Generate A and B, move ``movers`` of A's children into B's exports.

    Returns the towns, their truths ``(body, record id) → child id`` (child ids prefixed
    ``A:``/``B:``), and the ids of the moved children.
    """
    from synthetic.bodies import BODIES as SPECS
    from synthetic.bodies import render_record
    from synthetic.errors import ERROR_LEVELS
    from synthetic.municipality import BodyExport, generate, sub_rng

    a = generate(children, seed=seed, error_level="normal")
    b = generate(children, seed=seed + 1, error_level="normal")
    rng = random.Random(seed)
    moved = rng.sample(a.persons, movers)
    rates = ERROR_LEVELS["normal"]
    in_a_school = set(a.bodies["gakko"].person_ids)
    truth_a = {k: "A:" + v for k, v in a.truth.items() if k[0] in BODIES}
    truth_b = {k: "B:" + v for k, v in b.truth.items() if k[0] in BODIES}
    specs = {s.key: s for s in SPECS}
    for key in BODIES:
        spec = specs[key]
        export = b.bodies[key]
        body_rng = sub_rng(seed, f"movers:{key}")
        rows, ids, people = list(export.rows), list(export.record_ids), list(export.person_ids)
        for i, person in enumerate(moved):
            if key == "gakko" and person.person_id not in in_a_school:
                continue
            new_home = body_rng.choice(b.persons).address
            child = replace(person, address=new_home, old_address=None)
            rid = f"{spec.id_prefix}M{i:07d}"
            rows.append(render_record(child, spec, body_rng, rates, rid))
            ids.append(rid)
            people.append(person.person_id)
            truth_b[(key, rid)] = "A:" + person.person_id
        b.bodies[key] = BodyExport(spec, rows, ids, people)
    return a, b, truth_a, truth_b, {"A:" + p.person_id for p in moved}


def _encode(export: Any, folder: Path, secret: bytes, tag: str) -> tuple[Path, Path]:
    from encoders.encode import encode_file
    from linkage.schema import default_schema

    source = folder / export.spec.filename
    if not source.exists():
        source.write_bytes(export.to_bytes())
    out = folder / f"{export.spec.key}.{tag}.kkh"
    keys = folder / f"{export.spec.key}.{tag}.keys.csv"
    encode_file(
        source, output=out, keys_output=keys, schema=default_schema(), secret=secret,
        workers=1, max_reject_rate=0.05,
    )  # fmt: skip
    return out, keys


def _tokens(client: Any, pid: str, folder: Path) -> dict[tuple[str, str], str]:
    path = folder / "tokens.csv"
    client.download(f"/projects/{pid}/results/tokens", path, params={"format": "csv"})
    with path.open(encoding="utf-8") as handle:
        return {(r["body"], r["ref"]): r["token"] for r in csv.DictReader(handle)}


def run(
    children: int, movers: int, seed: int, work: Path, threshold: float | None = None
) -> dict[str, Any]:
    from apiclient import ApiClient
    from encoders.crosslink import rekey_file
    from encoders.secret import fingerprint, new_secret
    from kakehashi.demo import running_server

    started = time.perf_counter()
    a, b, truth_a, truth_b, moved = _towns(children, movers, seed)
    data_dir = work / "server"
    cities = {"A": (a, truth_a, new_secret()), "B": (b, truth_b, new_secret())}
    joint = new_secret()
    report: dict[str, Any] = {
        "children_per_city": children,
        "movers": movers,
        "seed": seed,
        "bodies": list(BODIES),
        "joint_secret_fingerprint_differs": len(
            {fingerprint(joint), *(fingerprint(s) for _, _, s in cities.values())}
        )
        == 3,
    }
    with running_server(data_dir) as url:
        operator = (data_dir / "operator.credential").read_text().strip()
        state: dict[str, dict[str, Any]] = {}
        with ApiClient(url, operator) as op:
            for name, (town, _, secret) in cities.items():
                created = op.create_project({"name": f"city {name}", "bodies": list(BODIES)})
                folder = work / name
                folder.mkdir(parents=True, exist_ok=True)
                state[name] = {"created": created, "folder": folder, "keys": {}}
                creds = created["credentials"]
                for key in BODIES:
                    enc, keys = _encode(town.bodies[key], folder, secret, "project")
                    state[name]["keys"][key] = keys
                    with ApiClient(url, creds["bodies"][key]) as body:
                        body.upload(created["project_id"], enc)
                with ApiClient(url, creds["coordinator"]) as coord:
                    rid = coord.start_run(created["project_id"])["run_id"]
                    done = coord.wait_run(created["project_id"], rid)
                    assert done["status"] == "done", done
                    state[name]["tokens"] = _tokens(coord, created["project_id"], folder)
            pids = [state[n]["created"]["project_id"] for n in ("A", "B")]
        coords = {n: state[n]["created"]["credentials"]["coordinator"] for n in ("A", "B")}
        with ApiClient(url, coords["A"]) as coord_a, ApiClient(url, coords["B"]) as coord_b:
            proposed = coord_a.propose_crosslink("A↔B 転出入", pids, threshold=threshold)
            xid = proposed["crosslink_id"]
            report["threshold"] = proposed["threshold"]
            coord_a.approve_crosslink(xid)
            coord_b.approve_crosslink(xid)
            t0 = time.perf_counter()
            for name, (town, _, _) in cities.items():
                creds = state[name]["created"]["credentials"]
                for key in BODIES:
                    enc, keys = _encode(town.bodies[key], state[name]["folder"], joint, "cross")
                    rekeyed = state[name]["folder"] / f"{key}.cross.rekeyed.kkh"
                    rekey_file(enc, keys, state[name]["keys"][key], rekeyed)
                    with ApiClient(url, creds["bodies"][key]) as body:
                        body.upload_crosslink(xid, rekeyed)
            report["seconds_cross_encode_upload"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            rid = coord_b.start_crosslink_run(xid)["run_id"]
            done = coord_b.wait_crosslink_run(xid, rid)
            assert done["status"] == "done", done
            report["seconds_cross_run"] = round(time.perf_counter() - t0, 2)
            results = {"A": coord_a.crosslink_results(xid), "B": coord_b.crosslink_results(xid)}
    report.update(_score(results, state, cities, moved))
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    return report


def _score(results: dict, state: dict, cities: dict, moved: set[str]) -> dict[str, Any]:
    from encoders.keys import read_keys

    out: dict[str, Any] = {}
    sides: dict[str, dict[str, set[str]]] = {}
    for name in ("A", "B"):
        _, truth, _ = cities[name]
        record_of = {
            (key, ref): record
            for key in BODIES
            for ref, record in read_keys(state[name]["keys"][key]).items()
        }
        rows = results[name]["rows"]
        children = set()
        for row in rows:
            child = truth[(row["body"], record_of[(row["body"], row["ref"])])]
            children.add(child)
            sides.setdefault(row["link"], {}).setdefault(name, set()).add(child)
        found = children & moved
        own_refs = set(record_of)
        other = "B" if name == "A" else "A"
        other_refs = {ref for key in BODIES for ref in read_keys(state[other]["keys"][key])}
        text = json.dumps(results[name])
        out[f"city_{name}"] = {
            "children_in_results": len(children),
            "movers_found": len(found),
            "precision": round(len(found) / len(children), 4) if children else None,
            "recall": round(len(found) / len(moved), 4),
            "rows": len(rows),
            "unresolved_tokens": results[name]["unresolved"],
            "tokens_are_own": all(
                row["token"] == state[name]["tokens"].get((row["body"], row["ref"])) for row in rows
            ),
            "only_own_refs": all((r["body"], r["ref"]) in own_refs for r in rows),
            "no_ref_of_other_city": not any(ref in text for ref in other_refs),
            "no_token_of_other_city": not any(
                tok in text for tok in set(state[other]["tokens"].values())
            ),
        }
    pairs = [s for s in sides.values() if "A" in s and "B" in s]
    correct = sum(1 for s in pairs if s["A"] & s["B"])
    out["links"] = len(sides)
    out["links_seen_by_both"] = len(pairs)
    out["pair_precision"] = round(correct / len(pairs), 4) if pairs else None
    out["pair_recall"] = round(correct / len(moved), 4)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=2000, help="children per city")
    parser.add_argument("--movers", type=int, default=100, help="children who moved A → B")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=None, help="cross-link threshold")
    parser.add_argument("--out", type=Path, default=None, help="folder for two_cities.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kakehashi-two-cities-") as tmp:
        report = run(args.children, args.movers, args.seed, Path(tmp), args.threshold)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "two_cities.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
