"""End-to-end scaling benchmark: tiny sizes, real subprocesses, real report files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.scaling import STAGES, _Sampled, _sizes, main

MIB = 2**20


def test_main_writes_json_markdown_and_plot_with_sane_values(tmp_path: Path) -> None:
    out = tmp_path / "report"
    results = main(["--sizes", "100,200", "--out", str(out)])

    for name in ("scaling.json", "scaling.md", "scaling.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "scaling.json").read_text()) == json.loads(json.dumps(results))

    rows = results["sizes"]
    assert [r["children"] for r in rows] == [100, 200]
    for row in rows:
        assert row["exit_status"] == 0
        assert set(row["records_per_body"]) == {"jumin", "gakko", "hoiku", "fukushi", "boshi"}
        assert row["records_per_body"]["jumin"] == row["children"]
        # every record of every export was encoded (the synthetic exports are valid)
        assert row["records_encoded"] == row["records_per_body"]
        assert row["records_total"] == sum(row["records_per_body"].values())
        assert all(row["seconds"][s] >= 0 for s in STAGES)
        assert sum(row["seconds"][s] for s in STAGES) <= row["wall_seconds"]
        # a Python process with numpy, numba and the encoder: tens of MiB, not gigabytes
        assert 30 < row["peak_rss_mib"] < 4096
        assert all(0 < v <= row["peak_rss_mib"] for v in row["stage_peak_rss_mib"].values())
        # each child has a group and a token; a group holds at most one record per body
        assert row["children"] <= row["n_groups"] == row["tokens"] <= row["records_total"]
        assert row["link_stats"]["candidate_pairs"] >= row["link_stats"]["merges"] > 0
    assert rows[1]["records_total"] > rows[0]["records_total"]

    table = (out / "scaling.md").read_text()
    assert "| 100 |" in table and "| 200 |" in table
    assert "load average before" in table


@given(
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 8 * 2**30)), min_size=1, max_size=30),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_stage_peak_is_a_sample_and_never_above_the_overall_peak(
    samples: list[tuple[float, int]], a: float, b: float
) -> None:
    samples = sorted(samples)
    run = _Sampled(0, 1.0, [(1.0 + t, rss) for t, rss in samples])
    start, end = 1.0 + min(a, b), 1.0 + max(a, b)
    overall = run.peak_mib()
    assert overall == max(rss for _, rss in samples) / MIB
    window = run.peak_mib(start, end)
    assert window <= overall
    assert window == 0 or window * MIB in {rss for _, rss in samples}
    inside = [rss for t, rss in run.samples if start <= t <= end]
    if inside:
        assert window == max(inside) / MIB


def test_sizes_option_parses_lists_and_refuses_nonsense() -> None:
    assert _sizes("2000,20000,200000") == (2000, 20000, 200000)
    assert _sizes("5") == (5,)
    for bad in ("", "0,10", "-3"):
        with pytest.raises(argparse.ArgumentTypeError):
            _sizes(bad)
