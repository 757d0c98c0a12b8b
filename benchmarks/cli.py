"""``kakehashi bench``: accuracy, speed and privacy reports into ``benchmarks/results/<date>/``."""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

RESULTS = Path("benchmarks/results")

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Report folder (default: benchmarks/results/<today>/)."),
]


def _folder(out: Path | None) -> Path:
    folder = out or RESULTS / date.today().isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run(module: str, argv: list[str]) -> None:
    importlib.import_module(module).main(argv)


def accuracy(
    scenario: Annotated[
        str, typer.Option(help="small (2 k), medium (20 k) or large (200 k children).")
    ] = "small",
    error_level: Annotated[str, typer.Option(help="clean, normal or dirty.")] = "normal",
    out: OutOpt = None,
) -> None:
    """Accuracy: Kakehashi PPRL vs the status quo and Splink plaintext, plus FEBRL4."""
    folder = _folder(out)
    _run(
        "benchmarks.accuracy",
        ["--scenario", scenario, "--error-level", error_level, "--out", str(folder)],
    )


def speed(
    quick: Annotated[bool, typer.Option(help="Smaller sizes (the quick suite).")] = True,
    out: OutOpt = None,
) -> None:
    """Speed: Dice pairs/s vs anonlink, encoding rec/s vs clkhash, end-to-end scaling."""
    folder = _folder(out)
    engine = ["--out", str(folder / "engine_speed.json")]
    _run("benchmarks.engine_speed", ["--small", *engine] if quick else engine)
    _run("benchmarks.scaling", ["--out", str(folder)] + (["--quick"] if quick else []))
    _run(
        "benchmarks.encode_speed",
        ["--out", str(folder)] + (["--rows", "20000"] if quick else ["--big-rows", "1000000"]),
    )


def support(
    children: Annotated[int, typer.Option(help="Children per synthetic town.")] = 2000,
    seeds: Annotated[int, typer.Option(help="Towns (seeds 1..N) per error level.")] = 3,
    error_level: Annotated[
        list[str] | None, typer.Option(help="clean, normal or dirty (repeatable).")
    ] = None,
    out: OutOpt = None,
) -> None:
    """Support list: planted children found via Kakehashi vs each department alone and
    exact name + birth date linkage."""
    folder = _folder(out)
    levels = [
        arg for level in (error_level or ["normal", "dirty"]) for arg in ("--error-level", level)
    ]
    _run(
        "benchmarks.support",
        ["--children", str(children), "--seeds", str(seeds), *levels, "--out", str(folder)],
    )


def privacy(
    children: Annotated[int, typer.Option(help="Children in the synthetic municipality.")] = 20_000,
    configs: Annotated[
        bool, typer.Option(help="Every hardening config of the frontier, not just the default.")
    ] = False,
    out: OutOpt = None,
) -> None:
    """Privacy: frequency, graph-matching and pattern attacks on the encodings."""
    folder = _folder(out)
    argv = ["--children", str(children), "--out", str(folder)]
    _run("benchmarks.privacy.run", argv + (["--configs"] if configs else []))


def dask_scaling(
    n: Annotated[int, typer.Option(help="Base records; 5 bodies hold 80 % each.")] = 6_000,
    rounds: Annotated[int, typer.Option(help="Rounds per case (medians).")] = 3,
    workers: Annotated[str, typer.Option(help="Dask worker counts, comma-separated.")] = "1,2,4",
    blocking: Annotated[str, typer.Option(help="exhaustive and/or lsh, comma-separated.")] = (
        "exhaustive,lsh"
    ),
    out: OutOpt = None,
) -> None:
    """Dask scale-out: 1, 2, 4 process workers as ratios to the in-process engine, and the
    per-core rates docs/capacity.md sizes with."""
    folder = _folder(out)
    _run(
        "benchmarks.dask_scaling",
        ["--n", str(n), "--rounds", str(rounds), "--workers", workers, "--blocking", blocking,
         "--out", str(folder)],
    )  # fmt: skip


def two_cities(
    children: Annotated[int, typer.Option(help="Children per synthetic city.")] = 2000,
    movers: Annotated[int, typer.Option(help="Children who moved from city A to city B.")] = 100,
    threshold: Annotated[
        float | None, typer.Option(help="Cross-link Dice threshold (default: the server's).")
    ] = None,
    out: OutOpt = None,
) -> None:
    """Cross-municipality linkage: two cities, children who moved, through a real server."""
    folder = _folder(out)
    argv = ["--children", str(children), "--movers", str(movers), "--out", str(folder)]
    _run("benchmarks.two_cities", argv + (["--threshold", str(threshold)] if threshold else []))


def family(
    children: Annotated[int, typer.Option(help="Children in the synthetic town.")] = 2000,
    seed: Annotated[list[int] | None, typer.Option(help="Seed (repeatable).")] = None,
    error_level: Annotated[
        list[str] | None, typer.Option(help="clean, normal or dirty (repeatable).")
    ] = None,
    twins: Annotated[float, typer.Option(help="Share of households with twins.")] = 0.02,
    birth_tags: Annotated[
        str, typer.Option(help="Children's birth tags from 'jumin' only or from 'all' bodies.")
    ] = "jumin",
    out: OutOpt = None,
) -> None:
    """Families: pregnancy → child, child → household and payee → child links."""
    folder = _folder(out)
    argv = ["--children", str(children), "--twins", str(twins), "--birth-tags", birth_tags]
    argv += [a for s in (seed or [0]) for a in ("--seed", str(s))]
    argv += [a for lv in (error_level or ["normal"]) for a in ("--error-level", lv)]
    _run("benchmarks.family", [*argv, "--out", str(folder / "family.json")])


def all_benchmarks(
    quick: Annotated[bool, typer.Option(help="The quick suite (under 10 minutes).")] = True,
    out: OutOpt = None,
) -> None:
    """Accuracy and speed, one report folder."""
    accuracy(scenario="small" if quick else "medium", out=out)
    speed(quick=quick, out=out)


def delta(
    existing: Annotated[int, typer.Option(help="Records already linked (two bodies).")] = 1_000_000,
    deltas: Annotated[str, typer.Option(help="Delta sizes, comma-separated.")] = "1000,10000,50000",
    exhaustive_size: Annotated[
        int, typer.Option(help="Size of the measured exhaustive full link (extrapolated).")
    ] = 100_000,
    server_existing: Annotated[int, typer.Option(help="Records, server level.")] = 100_000,
    server_deltas: Annotated[str, typer.Option(help="Server-level appends.")] = "1000,5000",
    out: OutOpt = None,
) -> None:
    """Incremental linkage: time of a delta link vs delta size, against a full re-link."""
    folder = _folder(out)
    _run(
        "benchmarks.delta",
        [
            "--existing", str(existing), "--deltas", deltas,
            "--exhaustive-size", str(exhaustive_size), "--server-existing", str(server_existing),
            "--server-deltas", server_deltas, "--out", str(folder),
        ],
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Accuracy and speed benchmarks.", no_args_is_help=True)
    bench.command("accuracy")(accuracy)
    bench.command("speed")(speed)
    bench.command("support")(support)
    bench.command("privacy")(privacy)
    bench.command("dask")(dask_scaling)
    bench.command("delta")(delta)
    bench.command("two-cities")(two_cities)
    bench.command("family")(family)
    bench.command("all")(all_benchmarks)
    app.add_typer(bench, name="bench")
