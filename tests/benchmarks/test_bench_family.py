"""The family benchmark at a tiny size: it runs end to end through the real encoder and
engine, every link is scored and every miss has a category."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import family


def test_family_benchmark_tiny(tmp_path: Path) -> None:
    out = tmp_path / "family.json"
    family.main(["--children", "300", "--seed", "4", "--twins", "0.3", "--out", str(out)])
    (result,) = json.loads(out.read_text(encoding="utf-8"))
    pc = result["pregnancy_child"]
    assert pc["truth"] > 5 and pc["multiple_births"] >= 1
    assert pc["precision"] >= 0.95 and pc["recall"] >= 0.9
    misses = pc["truth"] - pc["true_positives"]
    assert sum(pc["misses"].values()) == misses
    assert sum(pc["wrong"].values()) == pc["predicted"] - pc["true_positives"]
    assert pc["open_or_lost_kept_open"] <= pc["open_or_lost"]
    assert result["child_household"]["truth"] > 0
    assert 0.0 <= result["payee_child"]["recall"] <= 1.0
