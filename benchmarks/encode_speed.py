"""Encoding throughput vs clkhash, and peak memory on a 1 M-row export.

Measured side by side in one run, on the same synthetic records and schema:

* **clkhash**: ``clkhash.clk.generate_clks`` in one process on values that were already
  normalised (clkhash does no normalisation; that time is not counted for it);
* **kakehashi**: ``encoders.encode_file`` end to end — reading the CSV, normalisation,
  hashing and writing the encodings and keys files — with 1 and with N workers.

Every timed run starts with cold memo caches (clkhash's and ours), as a department's
single run of the encoder does.

The ratio kakehashi / clkhash in records per second is what the targets speak of; the
median of ``--repeats`` runs is reported because the machine is shared.

Peak RSS: ``kakehashi encode`` runs as a subprocess on a generated CSV of ``--big-rows``
rows; the resident memory of it and its worker processes, summed, is sampled every
50 ms.

    python -m benchmarks.encode_speed --rows 20000 --big-rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from benchmarks.memory import RssSampler


def _clear_caches() -> None:
    """Empty the in-process memo caches of clkhash and of our normalisers.

    Both memoise per token or per value (``functools.lru_cache``, our ``ColumnMemo``). A
    department encodes an export once, in a fresh process, so every timed run starts cold:
    otherwise the second and later repeats would time cache hits. (Worker processes are
    forked during the timed run, so they inherit only what that run has cached.)
    """
    import functools
    import importlib
    import pkgutil

    import clkhash.bloomfilter

    import encoders.normalise
    import encoders.pipeline
    from encoders.normalise.chunk import ColumnMemo

    encoders.pipeline._STATE.clear()  # the per-process hasher and its value masks

    modules = [clkhash.bloomfilter] + [
        importlib.import_module(f"encoders.normalise.{m.name}")
        for m in pkgutil.iter_modules(encoders.normalise.__path__)
    ]
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper | ColumnMemo):
                value.cache_clear()


def _records(path: Path) -> list[dict[str, str]]:
    from encoders.columns import resolve_columns
    from encoders.readers import open_table

    with open_table(path) as table:
        plan = resolve_columns(table.headers)
        return [plan.record(cells) for _, cells in table]


def _make_export(folder: Path, children: int, seed: int) -> Path:
    from synthetic import generate

    return generate(children, seed=seed).write_exports(folder)["jumin"]


def _inflate(source: Path, target: Path, rows: int) -> None:
    """Write ``rows`` data rows by cycling ``source``'s rows with fresh record ids.

    From the second cycle on, each row gets the surname of its own row and the given name
    (and reading) of another, and its address a further lot number, so that names and
    addresses keep being new, as in a real export, and the memo caches fill up.
    """
    with source.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = list(reader)
    name_columns = [header.index(h) for h in ("氏名", "氏名_フリガナ") if h in header]
    address = header.index("住所") if "住所" in header else None
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            cycle, index = divmod(i, len(data))
            row = list(data[index])
            row[0] = f"{i:010d}"
            if cycle:
                other = data[(index * 7919 + cycle) % len(data)]
                for column in name_columns:
                    surname = row[column].partition("\u3000")[0]
                    row[column] = surname + "\u3000" + other[column].partition("\u3000")[2]
                if address is not None and row[address]:
                    row[address] += f"-{cycle}"
            writer.writerow(row)


def _distinct_names(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        column = next(reader).index("氏名")
        return len({row[column] for row in reader})


def _peak_rss(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (seconds, peak RSS MiB of it + children).

    Raises RuntimeError with the end of its error output when it fails: a failed run's
    time and memory mean nothing.
    """
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        with RssSampler(process) as sampler:
            process.wait()
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-2000:]
            raise RuntimeError(f"{' '.join(command[:4])} … exited {process.returncode}:\n{tail}")
    return seconds, sampler.peak / 2**20


def _stages(export: Path, schema: Any, secret: bytes, chunk_rows: int) -> dict[str, float]:
    """Seconds of each stage of one worker's job over ``export``, in one process, cold.

    ``read``: CSV → cells (the parent's share); ``columns``: cells → canonical columns;
    ``normalise``: ``normalise_columns``; ``hash``: ``ClkHasher.hash_columns``;
    ``normalise_per_record``: ``normalise_record`` called record by record instead (the
    public one-record API), for comparison.
    """
    from encoders.columns import resolve_columns
    from encoders.hashing import ClkHasher
    from encoders.normalise import normalise_record
    from encoders.normalise.chunk import normalise_columns
    from encoders.readers import open_table

    today = date.today()
    fields = [normaliser for _, normaliser in schema.normalisers.items()]
    _clear_caches()
    started = time.perf_counter()
    with open_table(export) as table:
        plan = resolve_columns(table.headers)
        cells = [row for _, row in table]
    read = time.perf_counter()
    chunks = [plan.columns(cells[i : i + chunk_rows]) for i in range(0, len(cells), chunk_rows)]
    columns = time.perf_counter()
    results = [normalise_columns(c, len(c["record_id"]), today=today) for c in chunks]
    normalised = time.perf_counter()
    hasher = ClkHasher(schema, secret)
    for result in results:
        hasher.hash_columns([result.values[name] for name in fields])
    hashed = time.perf_counter()
    records = [plan.record(row) for row in cells]
    _clear_caches()
    per_record = time.perf_counter()
    for record in records:
        normalise_record(record, today=today)
    return {
        "read": read - started,
        "columns": columns - read,
        "normalise": normalised - columns,
        "hash": hashed - normalised,
        "normalise_per_record": time.perf_counter() - per_record,
    }


def measure(
    rows: int = 20000, workers: int = 2, repeats: int = 3, big_rows: int = 0, seed: int = 11
) -> dict[str, Any]:
    from clkhash import clk
    from clkhash import schema as clk_schema

    from encoders.encode import encode_file
    from encoders.pipeline import normalised_values
    from encoders.secret import new_secret, write_secret
    from linkage.schema import default_schema

    schema = default_schema()
    secret = new_secret()
    results: dict[str, Any] = {"rows": rows, "workers": workers, "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        export = _make_export(tmp / "exports", rows, seed)
        records = _records(export)
        results["rows"] = len(records)
        fields = list(schema.normalisers.items())
        values = [normalised_values(r, fields, date.today())[0] for r in records]
        reference = clk_schema.from_json_dict(schema.clkhash_document())

        def time_clkhash() -> float:
            _clear_caches()
            started = time.perf_counter()
            clk.generate_clks(values, reference, secret, max_workers=1)
            return time.perf_counter() - started

        def time_ours(n_workers: int) -> float:
            _clear_caches()
            started = time.perf_counter()
            encode_file(
                export, output=tmp / "out.kkh", keys_output=tmp / "out.keys.csv",
                schema=schema, secret=secret, workers=n_workers, max_reject_rate=1.0,
            )  # fmt: skip
            return time.perf_counter() - started

        timings: dict[str, list[float]] = {
            "clkhash_1proc": [],
            "kakehashi_1": [],
            f"kakehashi_{workers}": [],
        }
        for _ in range(repeats):
            timings["clkhash_1proc"].append(time_clkhash())
            timings["kakehashi_1"].append(time_ours(1))
            timings[f"kakehashi_{workers}"].append(time_ours(workers))
        n = len(records)
        rates = {k: n / statistics.median(v) for k, v in timings.items()}
        results["records_per_second"] = rates
        results["ratio_vs_clkhash"] = {
            k: rates[k] / rates["clkhash_1proc"] for k in rates if k != "clkhash_1proc"
        }
        results["seconds"] = timings

        from encoders.pipeline import CHUNK_ROWS

        stage_runs = [_stages(export, schema, secret, CHUNK_ROWS) for _ in range(repeats)]
        results["stages_seconds"] = {
            name: statistics.median(run[name] for run in stage_runs) for name in stage_runs[0]
        }

        if big_rows:
            big = tmp / "big.csv"
            _inflate(export, big, big_rows)
            distinct = _distinct_names(big)
            secret_file = tmp / "secret.txt"
            write_secret(secret_file, secret)
            command = [
                sys.executable, "-m", "kakehashi", "encode", str(big), "--secret",
                str(secret_file), "--workers", str(workers), "--out", str(tmp / "big.kkh"),
                "--max-reject-rate", "1",
            ]  # fmt: skip
            seconds, peak = _peak_rss(command)
            results["big"] = {
                "rows": big_rows,
                "seconds": seconds,
                "records_per_second": big_rows / seconds,
                "peak_rss_mib": peak,
                "csv_mib": big.stat().st_size / 2**20,
                "distinct_full_names": distinct,
            }
    return results


def to_markdown(results: dict[str, Any]) -> str:
    lines = [
        "## Encoding speed",
        "",
        f"{results['rows']:,} synthetic records, median of {results['repeats']} runs.",
        "",
        "| encoder | records/s | × clkhash |",
        "|---|---:|---:|",
    ]
    rates = results["records_per_second"]
    for name, rate in rates.items():
        ratio = results["ratio_vs_clkhash"].get(name, 1.0)
        lines.append(f"| {name} | {rate:,.0f} | {ratio:.2f} |")
    if "stages_seconds" in results:
        stages = results["stages_seconds"]
        lines += [
            "",
            "One process, cold caches, seconds (median): "
            + ", ".join(f"{name} {seconds:.2f}" for name, seconds in stages.items())
            + f"; normalise_columns {results['rows'] / stages['normalise']:,.0f} records/s.",
        ]
    if "big" in results:
        big = results["big"]
        lines += [
            "",
            f"Large run: {big['rows']:,} rows ({big['csv_mib']:.0f} MiB CSV, "
            f"{big.get('distinct_full_names', 0):,} distinct full names) in "
            f"{big['seconds']:.0f} s ({big['records_per_second']:,.0f} rows/s), "
            f"peak RSS {big['peak_rss_mib']:.0f} MiB (encoder + workers).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-rows", type=int, default=0, help="0 skips the memory run")
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON + Markdown")
    args = parser.parse_args(argv)
    results = measure(args.rows, args.workers, args.repeats, args.big_rows)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "encode_speed.json").write_text(json.dumps(results, indent=2))
        (args.out / "encode_speed.md").write_text(to_markdown(results))
    print(to_markdown(results))
    return results


if __name__ == "__main__":
    main()
