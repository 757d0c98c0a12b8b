"""Review-list iteration: score a town once per secret, then re-evaluate the review fast.

``cache`` runs the default pipeline (``benchmarks.quality.kakehashi_run``: encode with the
default schema, ``linkage.engine.link`` with defaults) once per data set and secret and
stores what ``linkage.review.review_groups`` was called with — the groups after
clustering and the twin move, the candidate pairs at or above the run's floor, each
record's body, the fitted ``ScoreModel``, the clustering's near-tie flags — together with
which groups are wrong (``benchmarks.quality.wrong_groups``) and the run's F1, precision
and twin/sibling merges. The engine is not copied: the arguments are captured from the
call the engine makes.

``eval`` calls the current ``review_groups`` on every cached run (seconds) and prints the
share of flagged groups that are wrong and the share of wrong groups that are flagged,
per run and as mean (min–max) per data set, with what each kind of evidence flagged.

    python -m benchmarks.review_eval cache --datasets synthetic:0,kawase:2 --size 5000 \
        --secrets 3 --out /work/runs/review/cache
    python -m benchmarks.review_eval eval --cache /work/runs/review/cache
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import quality
from linkage import engine
from linkage.threshold import ScoreModel


def _capture() -> dict[str, Any]:
    """Wrap ``engine.review_groups`` so the next ``link`` leaves its arguments here."""
    box: dict[str, Any] = {}
    real = engine.review_groups

    def spy(group_of, n_groups, left, right, scores, body, model, ambiguous=None, **kw):
        box.update(group_of=np.asarray(group_of).copy(), n_groups=int(n_groups),
                   left=np.asarray(left), right=np.asarray(right),
                   scores=np.asarray(scores), body=np.asarray(body), model=model,
                   ambiguous=None if ambiguous is None
                   else np.asarray(ambiguous).copy(),
                   split_floor=kw.get("split_floor"))  # fmt: skip
        return real(group_of, n_groups, left, right, scores, body, model, ambiguous, **kw)

    engine.review_groups = spy  # type: ignore[assignment]
    box["_restore"] = lambda: setattr(engine, "review_groups", real)
    return box


def _dataset(spec: str, size: int) -> quality.Dataset:
    name, _, seed = spec.partition(":")
    if name in ("febrl4", "febrl3"):
        return quality.febrl4_dataset() if name == "febrl4" else quality.febrl3_dataset()
    gen, _, level = name.partition("-")
    return quality.municipal_dataset(gen, size, int(seed or 0), level or "normal")


def cache(specs: list[str], size: int, n_secrets: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    keys = quality.secrets(n_secrets)
    for spec in specs:
        t0 = time.perf_counter()
        ds = _dataset(spec, size)
        tag = spec.replace(":", "-s") + ("" if spec.startswith("febrl") else f"-{size}")
        for k, key in enumerate(keys):
            path = out / f"{tag}-k{k}.npz"
            if path.exists():
                continue
            box = _capture()
            try:
                pred, flagged, info = quality.kakehashi_run(ds, key)
            finally:
                box.pop("_restore")()
            ev = quality.evaluate(pred, ds, flagged)
            wrong = quality.wrong_groups(pred, ds.truth)
            n_groups = box["n_groups"]
            is_wrong = np.zeros(n_groups, bool)
            is_wrong[[g for g in wrong if isinstance(g, int)]] = True
            # Wrong groups outside the engine's groups (records the encoder dropped).
            extra_wrong = sum(1 for g in wrong if not isinstance(g, int))
            model: ScoreModel = box["model"]
            meta = {"spec": spec, "size": size, "secret": k, "tag": tag,
                    "model": dataclasses.asdict(model), "extra_wrong": extra_wrong,
                    "baseline_review": ev["review"], "f1": ev["f1"],
                    "precision": ev["precision"], "recall": ev["recall"],
                    "twin_merges": ev["twin_merges"], "sibling_merges": ev["sibling_merges"],
                    "threshold_source": info.get("threshold_source"),
                    "split_floor": box["split_floor"],
                    "seconds": time.perf_counter() - t0}  # fmt: skip
            amb = box["ambiguous"]
            # ``pred`` lists the records in the engine's global order: each one's person.
            codes: dict[str, int] = {}
            person = np.array([codes.setdefault(ds.truth[rk], len(codes)) for rk in pred],
                              np.int64)  # fmt: skip
            assert person.size == box["group_of"].size
            np.savez_compressed(
                path, group_of=box["group_of"], left=box["left"], right=box["right"],
                scores=box["scores"], body=box["body"], is_wrong=is_wrong, person=person,
                ambiguous=np.zeros(n_groups, bool) if amb is None else amb,
                meta=np.array(json.dumps(meta)),
            )  # fmt: skip
            r = ev["review"]
            print(f"{path.name}: F1 {ev['f1']:.4f} flagged {r['flagged_groups']} wrong "
                  f"{r['wrong_groups']} prec {r['flag_precision']:.3f} rec "
                  f"{r['flag_recall']:.3f} model {model.source} ({time.perf_counter() - t0:.0f}"
                  " s)", flush=True)  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    z = np.load(path)
    d = {k: z[k] for k in z.files if k != "meta"}
    d["meta"] = json.loads(str(z["meta"]))
    d["model"] = ScoreModel(**d["meta"]["model"])
    return d


def submitted_wrong(group_of: np.ndarray, person: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups,)`` bool: the group mixes people or one of its people has a record in
    another group (``group_of``, ``person`` ``(n,)``, the records the linkage saw)."""
    low = np.full(n_groups, np.iinfo(np.int64).max)
    high = np.full(n_groups, -1, np.int64)
    np.minimum.at(low, group_of, person)
    np.maximum.at(high, group_of, person)
    wrong = low != high  # the group holds more than one person
    p_groups = np.unique(np.stack([person, group_of], 1), axis=0)
    split = np.bincount(p_groups[:, 0]) > 1
    wrong[group_of[split[person]]] = True
    return wrong


def evaluate_run(d: dict[str, Any], **kw: Any) -> dict[str, Any]:
    from linkage.review import review_groups

    n_groups = d["is_wrong"].size
    dedup = np.ones(1, bool) if d["meta"]["spec"].startswith("febrl3") else None
    rev = review_groups(d["group_of"], n_groups, d["left"], d["right"], d["scores"], d["body"],
                        d["model"], d["ambiguous"], dedup=dedup,
                        split_floor=d["meta"].get("split_floor"), **kw)  # fmt: skip
    # Wrong over the records that reached the linkage (``quality.review_scores``): a
    # group that is not exactly one person's submitted records. ``is_wrong`` (cached)
    # also counts a group left without a record the encoder rejected.
    wrong = submitted_wrong(d["group_of"], d["person"], n_groups)
    n_wrong = int(wrong.sum())
    flagged = rev.flagged
    hit = int((flagged & wrong).sum())
    kinds = {}
    for name, ev in rev.evidence.items():
        top = ev >= kw.get("flag_at", 0.25)
        kinds[name] = (int(top.sum()), int((top & wrong).sum()))
    return {"flagged": int(flagged.sum()), "wrong": n_wrong, "hit": hit, "is_wrong": wrong,
            "precision": hit / flagged.sum() if flagged.sum() else 0.0,
            "recall": hit / n_wrong if n_wrong else 1.0, "kinds": kinds, "review": rev}  # fmt: skip


def _mm(v: list[float], d: int = 3) -> str:
    return f"{statistics.fmean(v):.{d}f} ({min(v):.{d}f}–{max(v):.{d}f})"


def evaluate_cache(paths: list[Path], verbose: bool = True) -> dict[str, dict[str, float]]:
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for p in sorted(paths):
        d = load(p)
        r = evaluate_run(d)
        r["baseline"] = d["meta"]["baseline_review"]
        by_tag.setdefault(d["meta"]["tag"], []).append(r)
        if verbose:
            kinds = " ".join(f"{k}={a}/{b}" for k, (a, b) in r["kinds"].items() if a)
            print(f"  {p.name:34s} flagged {r['flagged']:4d} wrong {r['wrong']:3d} hit "
                  f"{r['hit']:3d} P {r['precision']:.3f} R {r['recall']:.3f}  [{kinds}]"
                  f"  {d['model'].source}")  # fmt: skip
    out = {}
    for tag, rs in by_tag.items():
        pr = [r["precision"] for r in rs]
        rc = [r["recall"] for r in rs]
        fl = [float(r["flagged"]) for r in rs]
        wr = [float(r["wrong"]) for r in rs]
        print(f"{tag:24s} flagged {_mm(fl, 1)} wrong {_mm(wr, 1)} prec {_mm(pr)} rec {_mm(rc)}")
        bp = [r["baseline"]["flag_precision"] for r in rs]
        br = [r["baseline"]["flag_recall"] for r in rs]
        bf = [float(r["baseline"]["flagged_groups"]) for r in rs]
        print(f"{'  (as cached)':24s} flagged {_mm(bf, 1)} {'':22s} prec {_mm(bp)} rec {_mm(br)}")
        out[tag] = {"precision": statistics.fmean(pr), "recall": statistics.fmean(rc),
                    "min_precision": min(pr), "min_recall": min(rc)}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.review_eval", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--datasets", required=True, help="e.g. synthetic:0,kawase:2,febrl4")
    c.add_argument("--size", type=int, default=5000)
    c.add_argument("--secrets", type=int, default=3)
    c.add_argument("--out", type=Path, required=True)
    e = sub.add_parser("eval")
    e.add_argument("--cache", type=Path, required=True)
    e.add_argument("--match", default="", help="only files whose name contains this")
    e.add_argument("-q", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "cache":
        cache([s for s in args.datasets.split(",") if s], args.size, args.secrets, args.out)
    else:
        paths = [q for q in args.cache.glob("*.npz") if args.match in q.name]
        if not paths:
            print("no cached runs", file=sys.stderr)
            return 1
        evaluate_cache(paths, verbose=not args.q)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
