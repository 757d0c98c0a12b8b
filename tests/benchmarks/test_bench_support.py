"""The support-list benchmark at a tiny size: every planted child linkage connected is
found; no department alone finds any; the report is written."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import support


def test_support_benchmark_tiny(tmp_path: Path) -> None:
    support.main(
        ["--children", "300", "--seeds", "1", "--error-level", "normal", "--out", str(tmp_path)]
    )
    runs = json.loads((tmp_path / "support.json").read_text())
    assert len(runs) == 1
    run = runs[0]
    assert run["planted"] >= 6
    assert run["kakehashi_connected_not_found"] == 0
    assert run["kakehashi_found"] >= run["kakehashi_connected"]
    assert run["alone_found"] == 0
    assert run["perfect_linkage_listed"] >= run["planted"]
    text = (tmp_path / "support.md").read_text(encoding="utf-8")
    assert "| 300 | normal | 1 |" in text
