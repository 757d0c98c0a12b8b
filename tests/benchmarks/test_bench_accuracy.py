"""End to end: the small scenario through every method, and the report files."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import baselines
from benchmarks.accuracy import main
from synthetic import generate
from synthetic.metrics import score


def test_small_scenario_end_to_end_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert main(["--scenario", "small", "--no-febrl", "--out", str(out), "--keep-exports"]) == 0
    data = json.loads((out / "accuracy.json").read_text(encoding="utf-8"))
    (result,) = data
    assert result["n_children"] == 2000
    assert set(result["methods"]) == {"status_quo", "splink", "kakehashi"}
    for m in result["methods"].values():
        assert m["curve"]
        for point in m["curve"]:
            assert 0 <= point["precision"] <= 1 and 0 <= point["recall"] <= 1
            assert point["true_pairs"] > 0
            assert set(point["subgroup_recall"]) == {"foreign", "changed_surname", "moved", "twins"}
    assert len(result["methods"]["kakehashi"]["curve"]) > 1
    assert (out / "accuracy.md").read_text(encoding="utf-8").count("| synthetic-small-normal |")
    assert (out / "accuracy-synthetic-small-normal.png").stat().st_size > 0
    assert (out / "raw" / "small-normal" / "fukushi.csv").exists()
    assert (out / "raw" / "small-normal" / "truth.csv").exists()


def test_status_quo_on_read_exports(tmp_path: Path) -> None:
    town = generate(300, seed=4, error_level="clean")
    records = baselines.read_exports(town.write_exports(tmp_path))
    assert {b: len(r) for b, r in records.items()} == {
        b: len(e.rows) for b, e in town.bodies.items()
    }
    s = score(baselines.status_quo(records), town.truth)
    # Clean data still differs in date style per body (和暦 vs Gregorian): exact match
    # finds some pairs, never a wrong one.
    assert s.precision == 1.0 and 0 < s.recall < 1


def test_gregorian_only_parsing() -> None:
    from datetime import date

    assert baselines._gregorian("2015-04-01") == date(2015, 4, 1)
    assert baselines._gregorian("2015/4/1") == date(2015, 4, 1)
    assert baselines._gregorian("20150401") == date(2015, 4, 1)
    assert baselines._gregorian("R5.4.1") is None
    assert baselines._gregorian("4270401") is None
