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


def all_benchmarks(
    quick: Annotated[bool, typer.Option(help="The quick suite (under 10 minutes).")] = True,
    out: OutOpt = None,
) -> None:
    """Accuracy and speed, one report folder."""
    accuracy(scenario="small" if quick else "medium", out=out)
    speed(quick=quick, out=out)


def register(app: typer.Typer) -> None:
    bench = typer.Typer(help="Accuracy and speed benchmarks.", no_args_is_help=True)
    bench.command("accuracy")(accuracy)
    bench.command("speed")(speed)
    bench.command("support")(support)
    bench.command("privacy")(privacy)
    bench.command("all")(all_benchmarks)
    app.add_typer(bench, name="bench")
