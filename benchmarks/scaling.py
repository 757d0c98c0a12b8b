"""End-to-end scaling: time per stage and peak RSS for 2 k → 200 k children.

For each size a synthetic municipality (``synthetic.generate``) writes its five
bodies' CSV exports; then one fresh Python process runs the whole pipeline on them:

1. ``encode`` — ``encoders.encode.encode_file`` on each body's export (2 workers);
2. ``read`` — ``linkage.container.read_encodings`` of the five encodings files;
3. ``link`` — ``linkage.engine.link`` with default (LSH) blocking at the schema's threshold;
4. ``tokens`` — ``linkage.incremental.update_tokens`` for a first run (no old tokens).

The parent samples, every 50 ms, the resident memory of that process and its children
(the encoder's worker processes), summed, and reports the peak overall and per stage.
Generating the exports runs in a process of its own beforehand, so the synthetic
generator's memory is reported apart from the pipeline's.

    python -m benchmarks.scaling --sizes 2000,20000,200000 --out benchmarks/results/scaling
    python -m benchmarks.scaling --quick          # 2 000 and 20 000 only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.memory import process_tree_rss

DEFAULT_SIZES = (2000, 20000, 200000)
QUICK_SIZES = (2000, 20000)
STAGES = ("encode", "read", "link", "tokens")
SAMPLE_SECONDS = 0.05
RESULTS = Path("benchmarks/results")


# --------------------------------------------------------------------------- child side


def _mark(marks: dict[str, list[float]], stage: str, start: float) -> None:
    """Record wall-clock ``[start, end]`` (``time.time()``) of ``stage``."""
    marks[stage] = [start, time.time()]


def generate_exports(n_children: int, folder: Path, *, seed: int = 0) -> dict[str, Any]:
    """Write the five bodies' exports of an ``n_children`` municipality into ``folder``.

    Returns ``{"children", "seconds", "records": {body: rows}, "exports": {body: path}}``.
    """
    from synthetic import generate

    started = time.perf_counter()
    municipality = generate(n_children, seed=seed)
    paths = municipality.write_exports(folder)
    return {
        "children": n_children,
        "seconds": time.perf_counter() - started,
        "records": {k: len(v.record_ids) for k, v in municipality.bodies.items()},
        "exports": {k: str(p) for k, p in paths.items()},
    }


def run_pipeline(exports: dict[str, Path], workdir: Path, *, workers: int = 2) -> dict[str, Any]:
    """Encode, read, link and tokenise the given exports in this process.

    Args:
        exports: body key -> CSV export path.
        workdir: folder for the encodings and keys files.
        workers: encoder worker processes.

    Returns:
        ``seconds`` per stage (plus ``encode_per_body``), ``marks`` (wall-clock
        ``[start, end]`` per stage, for matching RSS samples), ``records`` encoded per body,
        ``link_stats`` (``LinkResult.stats``), ``n_groups`` and ``tokens``.
    """
    import numpy as np

    from encoders.encode import encode_file
    from encoders.secret import new_secret
    from linkage.container import read_encodings
    from linkage.engine import link
    from linkage.incremental import update_tokens
    from linkage.schema import default_schema

    schema = default_schema()
    secret = new_secret()
    workdir.mkdir(parents=True, exist_ok=True)
    marks: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    per_body: dict[str, float] = {}
    outputs: dict[str, Path] = {}

    wall, t = time.time(), time.perf_counter()
    for body, path in exports.items():
        tb = time.perf_counter()
        out = workdir / f"{body}.kkh"
        encode_file(
            path, output=out, keys_output=workdir / f"{body}.keys.csv", schema=schema,
            secret=secret, workers=workers, max_reject_rate=1.0,
        )  # fmt: skip
        per_body[body] = time.perf_counter() - tb
        outputs[body] = out
    seconds["encode"] = time.perf_counter() - t
    _mark(marks, "encode", wall)

    wall, t = time.time(), time.perf_counter()
    encodings = [read_encodings(p) for p in outputs.values()]
    seconds["read"] = time.perf_counter() - t
    _mark(marks, "read", wall)

    # The first link in a process loads numba's cached machine code and starts its
    # threads; a tiny link beforehand keeps that fixed cost out of the link stage.
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    warm = rng.integers(0, 256, (2, 4, schema.bit_length // 8), dtype=np.uint8)
    link(list(warm), threshold=schema.default_threshold)
    seconds["link_warmup"] = time.perf_counter() - t

    wall, t = time.time(), time.perf_counter()
    # A body with no records (possible for tiny municipalities) takes no part in linkage.
    present = [e.clks for e in encodings if len(e)]
    result = link(present, threshold=schema.default_threshold)
    seconds["link"] = time.perf_counter() - t
    _mark(marks, "link", wall)

    wall, t = time.time(), time.perf_counter()
    group_of = np.concatenate(result.group_of)
    update = update_tokens([None] * group_of.size, group_of, result.n_groups)
    seconds["tokens"] = time.perf_counter() - t
    _mark(marks, "tokens", wall)

    return {
        "seconds": seconds,
        "encode_per_body": per_body,
        "marks": marks,
        "records": {b: len(e) for b, e in zip(outputs, encodings, strict=True)},
        "link_stats": dict(result.stats),
        "n_groups": result.n_groups,
        "tokens": len(update.group_tokens),
    }


# -------------------------------------------------------------------------- parent side


@dataclass
class _Sampled:
    """A finished subprocess: exit status, wall seconds, RSS samples ``(time, bytes)``."""

    returncode: int
    seconds: float
    samples: list[tuple[float, int]] = field(default_factory=list)
    stderr: str = ""

    def peak_mib(self, start: float | None = None, end: float | None = None) -> float:
        """Peak summed RSS in MiB, over samples within ``[start, end]`` when given.

        A window shorter than the sampling interval may hold no sample: then the first
        sample after it stands in (0 when there is none).
        """
        lo, hi = start or float("-inf"), end or float("inf")
        inside = [rss for t, rss in self.samples if lo <= t <= hi]
        if not inside:
            inside = [rss for t, rss in self.samples if t > hi][:1]
        return max(inside, default=0) / 2**20


def _sampled_run(command: list[str], timeout: float | None = None) -> _Sampled:
    """Run ``command`` and sample its summed RSS every ``SAMPLE_SECONDS``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        samples: list[tuple[float, int]] = []
        while process.poll() is None:
            samples.append((time.time(), process_tree_rss(process)))
            if timeout is not None and time.perf_counter() - started > timeout:
                for child in process.children(recursive=True):
                    child.kill()
                process.kill()
                process.wait()
                break
            time.sleep(SAMPLE_SECONDS)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return _Sampled(process.returncode, time.perf_counter() - started, samples, stderr[-4000:])


def _self_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.scaling", *args]


def measure_size(
    n_children: int, tmp: Path, *, seed: int = 0, workers: int = 2, timeout: float | None = None
) -> dict[str, Any]:
    """Generate the exports, then run the pipeline in a fresh process with RSS sampling."""
    folder = tmp / f"n{n_children}"
    gen_json, run_json = folder / "generate.json", folder / "pipeline.json"
    folder.mkdir(parents=True, exist_ok=True)
    gen = _sampled_run(
        _self_command("--generate", str(n_children), "--seed", str(seed),
                      "--work", str(folder), "--json-out", str(gen_json)),
        timeout,
    )  # fmt: skip
    if gen.returncode != 0:
        raise RuntimeError(f"generating {n_children} children failed:\n{gen.stderr}")
    generated = json.loads(gen_json.read_text())
    run = _sampled_run(
        _self_command("--one-size", str(n_children), "--workers", str(workers),
                      "--work", str(folder), "--json-out", str(run_json)),
        timeout,
    )  # fmt: skip
    result: dict[str, Any] = {
        "children": n_children,
        "exit_status": run.returncode,
        "generate_seconds": generated["seconds"],
        "generate_peak_rss_mib": gen.peak_mib(),
        "records_per_body": generated["records"],
        "records_total": sum(generated["records"].values()),
        "wall_seconds": run.seconds,
        "peak_rss_mib": run.peak_mib(),
        "rss_samples": len(run.samples),
    }
    if run.returncode != 0:
        result["error"] = run.stderr
        return result
    pipeline = json.loads(run_json.read_text())
    result.update(
        seconds=pipeline["seconds"],
        encode_per_body=pipeline["encode_per_body"],
        records_encoded=pipeline["records"],
        link_stats=pipeline["link_stats"],
        n_groups=pipeline["n_groups"],
        tokens=pipeline["tokens"],
        stage_peak_rss_mib={
            s: run.peak_mib(*pipeline["marks"][s]) for s in STAGES if s in pipeline["marks"]
        },
    )
    return result


def _environment() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "load_average_before": list(load),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def measure(
    sizes: tuple[int, ...] = DEFAULT_SIZES, *, seed: int = 0, workers: int = 2,
    timeout: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Measure every size in turn; returns ``{"environment", "workers", "sizes": [...]}``."""
    env = _environment()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kakehashi-scaling-") as tmp_name:
        for n in sizes:
            rows.append(measure_size(n, Path(tmp_name), seed=seed, workers=workers,
                                     timeout=timeout))  # fmt: skip
            print(_row_line(rows[-1]), flush=True)
    env["load_average_after"] = list(os.getloadavg())
    return {"environment": env, "workers": workers, "seed": seed, "sizes": rows}


# ---------------------------------------------------------------------------- reporting


def _row_line(row: dict[str, Any]) -> str:
    if "seconds" not in row:
        return f"{row['children']:>7} children: FAILED (exit {row['exit_status']})"
    s = row["seconds"]
    stages = "  ".join(f"{k} {s[k]:.1f}s" for k in STAGES)
    return (
        f"{row['children']:>7} children, {row['records_total']:>7} records: {stages}  "
        f"wall {row['wall_seconds']:.1f}s  peak {row['peak_rss_mib']:.0f} MiB"
    )


def to_markdown(results: dict[str, Any]) -> str:
    """Tables: seconds per stage and peak RSS per size; records per body."""
    env = results["environment"]
    lines = [
        "## End-to-end scaling",
        "",
        f"{results['workers']} encoder workers; {env['cpus']} CPUs, "
        f"{env['memory_gib']:.0f} GiB; load average before "
        f"{env['load_average_before'][0]:.2f}, after {env['load_average_after'][0]:.2f}. "
        "Peak RSS: pipeline process + encoder workers, summed, sampled every 50 ms. "
        "Link excludes a one-off warm-up link on 4 random records (numba cache load, "
        "thread start): "
        + ", ".join(
            f"{r['seconds']['link_warmup']:.2f} s" for r in results["sizes"] if "seconds" in r
        )
        + ".",
        "",
        "| children | records | encode s | read s | link s | tokens s | wall s "
        "| peak RSS MiB | link peak MiB | candidate pairs | groups |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["sizes"]:
        if "seconds" not in row:
            lines.append(
                f"| {row['children']:,} | {row['records_total']:,} | failed (exit "
                f"{row['exit_status']}) | | | | {row['wall_seconds']:.1f} "
                f"| {row['peak_rss_mib']:.0f} | | | |"
            )
            continue
        s = row["seconds"]
        lines.append(
            f"| {row['children']:,} | {row['records_total']:,} | {s['encode']:.2f} "
            f"| {s['read']:.2f} | {s['link']:.2f} | {s['tokens']:.2f} "
            f"| {row['wall_seconds']:.1f} | {row['peak_rss_mib']:.0f} "
            f"| {row['stage_peak_rss_mib'].get('link', 0):.0f} "
            f"| {row['link_stats']['candidate_pairs']:,.0f} | {row['n_groups']:,} |"
        )
    bodies = list(results["sizes"][0]["records_per_body"]) if results["sizes"] else []
    lines += [
        "",
        "Records per body, generation time and generator peak RSS (separate process):",
        "",
        "| children | " + " | ".join(bodies) + " | generate s | generate MiB |",
        "|---:|" + "---:|" * (len(bodies) + 2),
    ]
    for row in results["sizes"]:
        counts = " | ".join(f"{row['records_per_body'][b]:,}" for b in bodies)
        lines.append(
            f"| {row['children']:,} | {counts} | {row['generate_seconds']:.1f} "
            f"| {row['generate_peak_rss_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path:
    """Log-log plot: children vs seconds per stage (left), peak RSS MiB (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["sizes"] if "seconds" in r]
    x = [r["children"] for r in rows]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.5))
    for stage in STAGES:
        ys = [max(r["seconds"][stage], 1e-4) for r in rows]
        ax_t.plot(x, ys, marker="o", label=stage)
    ax_t.plot(x, [r["wall_seconds"] for r in rows], marker="s", color="black", label="wall")
    ax_t.set(xscale="log", yscale="log", xlabel="children", ylabel="seconds",
             title="time per stage")  # fmt: skip
    ax_t.legend()
    ax_t.grid(True, which="both", alpha=0.3)
    ax_m.plot(x, [r["peak_rss_mib"] for r in rows], marker="o", label="pipeline (all)")
    ax_m.plot(x, [r["stage_peak_rss_mib"].get("link", 0) for r in rows], marker="^",
              label="during link")  # fmt: skip
    ax_m.plot(x, [r["generate_peak_rss_mib"] for r in rows], marker="x", linestyle="--",
              label="generator (separate)")  # fmt: skip
    ax_m.set(xscale="log", yscale="log", xlabel="children", ylabel="peak RSS MiB",
             title="peak resident memory")  # fmt: skip
    ax_m.legend()
    ax_m.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``scaling.json``, ``scaling.md`` and ``scaling.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "scaling.json", "md": out / "scaling.md", "png": out / "scaling.png"}
    paths["json"].write_text(json.dumps(results, indent=2))
    paths["md"].write_text(to_markdown(results))
    plot(results, paths["png"])
    return paths


# -------------------------------------------------------------------------------- entry


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive integers, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES,
                        help="children per size, comma-separated")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="2 000 and 20 000 only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per subprocess before it is killed")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="report folder (default benchmarks/results/<today>/)")  # fmt: skip
    # Internal: the subprocesses this module starts for one size.
    parser.add_argument("--generate", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-size", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.generate is not None or args.one_size is not None:
        if args.work is None or args.json_out is None:
            parser.error("--generate/--one-size need --work and --json-out")
        if args.generate is not None:
            data = generate_exports(args.generate, args.work / "exports", seed=args.seed)
        else:
            exports = json.loads((args.work / "generate.json").read_text())["exports"]
            data = run_pipeline(
                {k: Path(v) for k, v in exports.items()}, args.work / "encodings",
                workers=args.workers,
            )  # fmt: skip
        args.json_out.write_text(json.dumps(data))
        return data

    sizes = QUICK_SIZES if args.quick else args.sizes
    results = measure(sizes, seed=args.seed, workers=args.workers, timeout=args.timeout)
    out = args.out or RESULTS / date.today().isoformat()
    paths = write_report(results, out)
    print(to_markdown(results))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return results


if __name__ == "__main__":
    main()
