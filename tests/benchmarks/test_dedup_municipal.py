"""The municipal deduplication benchmark: counts same-body pairs, links paired CLKs."""

from __future__ import annotations

import json

from benchmarks import dedup_municipal, quality
from linkage import clustering, engine


def test_same_body_pairs_counts_pairs_of_one_body_in_one_group() -> None:
    truth = {("a", "1"): "P1", ("a", "2"): "P2", ("a", "3"): "P3", ("b", "1"): "P1"}
    ds = quality.Dataset("t", {"a": [], "b": []}, truth)
    assert dedup_municipal.same_body_pairs({k: i for i, k in enumerate(truth)}, ds) == 0
    together = {("a", "1"): 0, ("a", "2"): 0, ("a", "3"): 0, ("b", "1"): 0}
    assert dedup_municipal.same_body_pairs(together, ds) == 3  # a1–a2, a1–a3, a2–a3


def test_a_fixed_floor_is_restored_and_the_run_is_paired(tmp_path) -> None:
    args = ["--generator", "kawase", "--size", "150", "--secrets", "1",
            "--floor-margin", "0", "--plain", "--out", str(tmp_path)]  # fmt: skip
    assert dedup_municipal.main(args) == 0
    assert engine.cluster is clustering.cluster  # the comparison leaves the engine as it was
    results = json.loads((tmp_path / "dedup-kawase-150.json").read_text())
    rules = [(r["dedup"], r["floor_margin"]) for r in results]
    assert rules == [(True, None), (True, 0.0), (False, None)]
    fixed = results[1]["runs"][0]
    assert fixed["support_floor"] == fixed["threshold"]
    plain = results[2]["runs"][0]
    assert plain["same_body_pairs"] == 0 and plain["support_floor"] is None
