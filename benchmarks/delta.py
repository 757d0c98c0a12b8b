"""Incremental linkage: time of a delta link vs delta size, against a full re-link.

Linkage level (in process): ``--existing`` records (default 1 M, two bodies of equal
size, 1024-bit CLKs with about a quarter of the bits set; 60 % of the people are in
both bodies as noisy copies). Their pair state is the one an exhaustive full link leaves,
built from the known copies (``truth_state``; checked equal to the engine's at
``--exhaustive-size``), or with ``--full-link`` by linking them with the engine's default
blocking (LSH above ``engine.EXHAUSTIVE_BUDGET`` pairs, as the server does). Then, for
each delta size, that many new records of the second body (half of them copies of people
the first body holds) are linked with ``linkage.delta.link_delta``. An exhaustive full
re-link at 1 M × 1 M would take hours here, so it is measured at ``--exhaustive-size``
records and extrapolated quadratically (said so in the output).

Server level: a real app (SQLite, worker thread) on ``--server-existing`` records: a full
first run, then an append of each ``--server-deltas`` size and an incremental run, each
timed from queueing to ``done``, plus a full run of the same final data in a fresh project.

CLKs are random bits with random bit flips, not encoded names: the cost of comparison
depends on the popcount spread and the share of pairs above the threshold, which are
similar (see the module docstring of ``linkage.similarity``).

    python -m benchmarks.delta --out benchmarks/results/delta
    python -m benchmarks.delta --existing 200000 --deltas 1000,10000 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BITS = 1024
THRESHOLD = 0.8


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, BITS/64)`` uniformly random uint64 words."""
    return np.frombuffer(rng.bytes(n * BITS // 8), np.uint64).reshape(n, BITS // 64).copy()


def random_clks(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 128)`` uint8 CLKs, each bit set with probability 1/4 (AND of two draws)."""
    return (_words(rng, n) & _words(rng, n)).view(np.uint8).reshape(n, BITS // 8)


def noisy(rng: np.random.Generator, clks: np.ndarray) -> np.ndarray:
    """Copies with about 16 of 1024 bits flipped (each bit with probability 1/64)."""
    n = len(clks)
    mask = _words(rng, n)
    for _ in range(5):
        mask &= _words(rng, n)
    words = np.ascontiguousarray(clks).view(np.uint64).reshape(n, -1)
    return (words ^ mask).view(np.uint8).reshape(n, BITS // 8)


SHARED = 0.6


def make_bodies(rng: np.random.Generator, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Two bodies of ``n/2`` records; 60 % of the first body's people are in the second
    (record ``i`` of each, ``i < 0.6 n/2``). Returns the datasets and the people only the
    first body holds (for the deltas)."""
    half = n // 2
    a = random_clks(rng, half)
    shared = int(half * SHARED)
    b = np.concatenate([noisy(rng, a[:shared]), random_clks(rng, half - shared)])
    return [a, b], a[shared:]


def truth_state(names: list[str], datasets: list[np.ndarray], keys: list[np.ndarray]):
    """The pair state an exhaustive full link of ``make_bodies`` data leaves, built from
    the known copies instead of 2.5·10¹¹ comparisons: two independent CLKs of density 1/4
    score Dice ≈ 0.25 ± 0.03, never near 0.8, so the pairs ``>= THRESHOLD`` are exactly
    the copies that still score above it. Checked against the engine at a small size
    (``check_truth_state``)."""
    from linkage.delta import PairState, clk_digest

    a, b = datasets
    shared = int(len(a) * SHARED)
    wa = np.ascontiguousarray(a[:shared]).view(np.uint64)
    wb = np.ascontiguousarray(b[:shared]).view(np.uint64)
    common = np.bitwise_count(wa & wb).sum(axis=1)
    total = np.bitwise_count(wa).sum(axis=1) + np.bitwise_count(wb).sum(axis=1)
    scores = 2.0 * common / total
    keep = np.flatnonzero(scores >= THRESHOLD)
    return PairState(
        bodies=tuple(names),
        body=np.repeat(np.arange(2, dtype=np.int16), [len(a), len(b)]),
        refs=np.concatenate(keys), digest=np.concatenate([clk_digest(d) for d in datasets]),
        left=keep.astype(np.int64), right=(keep + len(a)).astype(np.int64),
        scores=scores[keep], threshold=THRESHOLD, bit_length=BITS,
    )  # fmt: skip


def check_truth_state(n: int) -> dict[str, Any]:
    """The engine's exhaustive full link of ``n`` records gives the same pairs as
    ``truth_state``; returns its timing (the measured exhaustive full link)."""
    from linkage.delta import state_of
    from linkage.engine import link

    rng = np.random.default_rng(1)
    datasets, _ = make_bodies(rng, n)
    keys = [refs(rng, len(d)) for d in datasets]
    t = time.perf_counter()
    ex = link(datasets, threshold=THRESHOLD, threshold_from_data=False, blocking="exhaustive")
    seconds = time.perf_counter() - t
    engine = state_of(["a", "b"], datasets, keys, ex)
    truth = truth_state(["a", "b"], datasets, keys)
    order = np.lexsort((engine.right, engine.left))
    same = (
        np.array_equal(engine.left[order], truth.left)
        and np.array_equal(engine.right[order], truth.right)
        and np.array_equal(engine.scores[order], truth.scores)
    )  # fmt: skip
    if not same:
        raise AssertionError("the known-pairs state differs from the engine's full link")
    return {"records": n, "seconds": round(seconds, 2), "comparisons": int(ex.stats["comparisons"]),
            "pairs": int(engine.left.size), "same_pairs_as_truth_state": True}  # fmt: skip


def refs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 16), dtype=np.uint8)


def linkage_level(existing: int, deltas: list[int], exhaustive_size: int,
                  full_link: bool) -> dict[str, Any]:  # fmt: skip
    from linkage.delta import link_delta, state_of
    from linkage.engine import link

    out: dict[str, Any] = {"existing": existing, "deltas": []}
    # The exhaustive full link, measured at a smaller size (and the truth state checked).
    out["exhaustive_measured"] = check_truth_state(exhaustive_size)
    t_ex = out["exhaustive_measured"]["seconds"]
    out["exhaustive_extrapolated_seconds_at_existing"] = round(
        t_ex * (existing / exhaustive_size) ** 2, 1
    )
    print(f"exhaustive full link of {exhaustive_size}: {t_ex:.1f} s", flush=True)

    rng = np.random.default_rng(0)
    datasets, only_a = make_bodies(rng, existing)
    names = ["a", "b"]
    keys = [refs(rng, len(d)) for d in datasets]
    if full_link:
        t = time.perf_counter()
        full = link(datasets, threshold=THRESHOLD, threshold_from_data=False)
        t_full = time.perf_counter() - t
        state = state_of(names, datasets, keys, full)
        out.update(
            full_link_seconds=round(t_full, 2),
            full_link_blocking="exhaustive" if full.stats["exhaustive"] else "lsh",
            full_link_comparisons=int(full.stats["comparisons"]),
        )
        print(f"full link of {existing} ({out['full_link_blocking']}): {t_full:.1f} s", flush=True)
    else:
        state = truth_state(names, datasets, keys)
        out["state"] = "known pairs (truth_state), as an exhaustive full link leaves it"
    out["state_pairs"] = int(state.left.size)
    for k in deltas:
        half = k // 2
        new = np.concatenate([noisy(rng, only_a[:half]), random_clks(rng, k - half)])
        cur = [datasets[0], np.concatenate([datasets[1], new])]
        cur_keys = [keys[0], np.concatenate([keys[1], refs(rng, k)])]
        t = time.perf_counter()
        done = link_delta(names, cur, cur_keys, state, threshold=THRESHOLD)
        seconds = time.perf_counter() - t
        row = {
            "delta": k,
            "seconds": round(seconds, 2),
            "seconds_match": round(done.stats["seconds_match"], 2),
            "seconds_compare": round(done.stats["seconds_compare"], 2),
            "seconds_cluster": round(done.stats["seconds_cluster"], 2),
            "comparisons": int(done.stats["comparisons"]),
            "new_pairs": int(done.stats["new_pairs"]),
            "kept_pairs": int(done.stats["kept_pairs"]),
        }
        out["deltas"].append(row)
        print(f"delta {k}: {seconds:.1f} s ({row})", flush=True)
    return out


def server_level(existing: int, deltas: list[int]) -> dict[str, Any]:
    """Full and incremental runs through the real app (SQLite, worker thread)."""
    from fastapi.testclient import TestClient

    from linkage.container import Encodings, write_encodings
    from linkage.schema import default_schema
    from server.core.config import Settings
    from server.main import create_app

    schema = default_schema()
    rng = np.random.default_rng(2)
    datasets, only_a = make_bodies(rng, existing)

    def payload(clks: np.ndarray, tmp: Path) -> bytes:
        enc = Encodings(
            refs=[os.urandom(16).hex() for _ in range(len(clks))], clks=clks, bit_length=BITS,
            schema_id=schema.schema_id, secret_fingerprint="0000-0000-0000-0000",
        )  # fmt: skip
        path = tmp / "e.kkh"
        write_encodings(path, enc, "binary")
        return path.read_bytes()

    def run(c: TestClient, coord: dict, pid: str) -> tuple[float, dict]:
        t = time.perf_counter()
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={}, headers=coord).json()["run_id"]
        while True:
            view = c.get(f"/api/v1/projects/{pid}/runs/{rid}", headers=coord).json()
            if view["status"] in ("done", "failed", "cancelled"):
                return time.perf_counter() - t, view
            time.sleep(0.05)

    out: dict[str, Any] = {"existing": existing, "runs": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        settings = Settings(data_dir=tmp / "data", worker_poll_seconds=0.05,
                            max_upload_bytes=1 << 30)  # fmt: skip
        with TestClient(create_app(settings)) as c:
            op = {"Authorization": "Bearer " + (tmp / "data/operator.credential").read_text()}

            def project() -> tuple[str, dict, dict, dict]:
                p = c.post("/api/v1/projects", headers=op,
                           json={"name": "bench", "bodies": ["a", "b"]}).json()  # fmt: skip
                h = {k: {"Authorization": f"Bearer {v}"}
                     for k, v in p["credentials"]["bodies"].items()}  # fmt: skip
                coord = {"Authorization": f"Bearer {p['credentials']['coordinator']}"}
                return p["project_id"], coord, h["a"], h["b"]

            def up(pid: str, who: dict, data: bytes, mode: str) -> None:
                r = c.post(f"/api/v1/projects/{pid}/uploads", params={"mode": mode},
                           content=data, headers=who)  # fmt: skip
                assert r.status_code == 201, r.text

            pid, coord, ha, hb = project()
            up(pid, ha, payload(datasets[0], tmp), "replace")
            up(pid, hb, payload(datasets[1], tmp), "replace")
            seconds, view = run(c, coord, pid)
            out["runs"].append({"kind": "first (full)", "seconds": round(seconds, 2),
                                "stats": view["stats"]})  # fmt: skip
            added = [datasets[1]]
            for k in deltas:
                half = k // 2
                new = np.concatenate([noisy(rng, only_a[:half]), random_clks(rng, k - half)])
                added.append(new)
                up(pid, hb, payload(new, tmp), "append")
                seconds, view = run(c, coord, pid)
                out["runs"].append({"kind": f"append {k}", "seconds": round(seconds, 2),
                                    "stats": view["stats"]})  # fmt: skip
                print(f"server: append {k}: {seconds:.1f} s", flush=True)
            fpid, fcoord, fa, fb = project()
            up(fpid, fa, payload(datasets[0], tmp), "replace")
            up(fpid, fb, payload(np.concatenate(added), tmp), "replace")
            seconds, view = run(c, fcoord, fpid)
            out["runs"].append({"kind": "full re-link of the final data",
                                "seconds": round(seconds, 2), "stats": view["stats"]})  # fmt: skip
            print(f"server: full re-link: {seconds:.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--existing", type=int, default=1_000_000)
    ap.add_argument("--deltas", default="1000,10000,50000")
    ap.add_argument("--exhaustive-size", type=int, default=100_000)
    ap.add_argument("--server-existing", type=int, default=100_000)
    ap.add_argument("--server-deltas", default="1000,5000")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--full-link", action="store_true",
                    help="Link the existing records with the engine (LSH above the budget) "
                    "instead of building their pair state from the known copies.")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/delta"))
    args = ap.parse_args(argv)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "threshold": THRESHOLD,
        "linkage": linkage_level(
            args.existing,
            [int(x) for x in args.deltas.split(",")],
            args.exhaustive_size,
            args.full_link,
        ),
    }
    if not args.skip_server:
        report["server"] = server_level(
            args.server_existing, [int(x) for x in args.server_deltas.split(",")]
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "delta.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'delta.json'}")


if __name__ == "__main__":
    main()
