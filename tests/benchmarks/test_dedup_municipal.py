"""The municipal deduplication benchmark: counts same-body pairs, links paired CLKs."""

from __future__ import annotations

import json

import pytest

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
    assert rules == [("all", None), ("all", 0.0), ("none", None)]
    fixed = results[1]["runs"][0]
    assert fixed["support_floor"] == fixed["threshold"]
    plain = results[2]["runs"][0]
    assert plain["same_body_pairs"] == 0 and plain["support_floor"] is None


def test_planted_duplicates_are_copies_of_one_body_with_one_change() -> None:
    ds = quality.municipal_dataset("kawase", 300, 7)
    dup = dedup_municipal.with_duplicates(ds, "jumin", 0.06, 7)
    planted = [r for r in dup.records["jumin"] if "-dup" in r["record_id"]]
    assert len(planted) == round(0.06 * len(ds.records["jumin"]))
    originals = {r["record_id"]: r for r in ds.records["jumin"]}
    kinds = set()
    for copy in planted:
        orig = originals[copy["record_id"].split("-dup")[0]]
        assert dup.truth[("jumin", copy["record_id"])] == ds.truth[("jumin", orig["record_id"])]
        changed = {k for k in orig if k != "record_id" and orig[k] != copy[k]}
        assert len(changed) == 1, changed
        kinds.add("address" if changed == {"address"} else next(iter(changed)))
    assert len(kinds) >= 3  # typos, moves and empty fields
    assert all(len(dup.records[b]) == len(ds.records[b]) for b in ds.records if b != "jumin")
    assert dup.dedup  # the scores count pairs within one body


def test_duplicates_found_and_same_body_pairs_tell_repeats_from_siblings() -> None:
    truth = {("a", "1"): "P1", ("a", "1d"): "P1", ("a", "2"): "P2", ("b", "1"): "P1"}
    ds = quality.Dataset("t", {"a": [], "b": []}, truth)
    apart = {k: i for i, k in enumerate(truth)}
    assert dedup_municipal.duplicates_found(apart, ds) == 0.0
    one = {("a", "1"): 0, ("a", "1d"): 0, ("a", "2"): 0, ("b", "1"): 0}
    assert dedup_municipal.duplicates_found(one, ds) == 1.0
    assert dedup_municipal.same_body_pairs(one, ds) == 2  # 1–2 and 1d–2; not 1–1d


def test_a_deduplicating_register_keeps_siblings_apart_and_finds_its_repeats(tmp_path) -> None:
    # One generated town, the register deduplicating, 3 % of its records planted twice.
    args = ["--generator", "kawase", "--size", "1500", "--seed", "11", "--secrets", "1",
            "--dedup-bodies", "jumin", "--duplicates", "0.03", "--out", str(tmp_path)]  # fmt: skip
    assert dedup_municipal.main(args) == 0
    (run,) = json.loads((tmp_path / "dedup-kawase+dup-1500-jumin.json").read_text())
    r = run["runs"][0]
    assert run["dedup"] == "jumin"
    # Siblings score above the municipal threshold (0.6) with each other; the floor for
    # two register records is learned from the run and lies well above it.
    assert r["same_body_floor"] > 0.7 and 0 < r["same_body_share"] < 0.3
    assert r["same_body_pairs"] <= 1 and r["sibling_merges"] <= 1
    assert r["duplicates_found"] >= 0.75 and r["f1"] >= 0.995
    # Without the floor (the rule before) the same CLKs grouped siblings by the hundred.
    from linkage import engine, threshold

    def off(*a, **k):
        return None

    ds = dedup_municipal.with_duplicates(quality.municipal_dataset("kawase", 1500, 11),
                                         "jumin", 0.03, 11)  # fmt: skip
    flags = [b == "jumin" for b in ds.records]
    engine.same_body_floor = off  # type: ignore[assignment]
    try:
        pred, _, _ = quality.kakehashi_run(ds, quality.secrets(1)[0], dedup=flags)
    finally:
        engine.same_body_floor = threshold.same_body_floor
    assert dedup_municipal.same_body_pairs(pred, ds) > 50


def test_an_incremental_run_with_a_dedup_register_equals_a_full_relink() -> None:
    # The server's path: a fixed threshold, the register deduplicating; a second upload
    # adds records. The same-body floor comes from pairs at or above the threshold, which
    # full and incremental runs hold alike, so both give the same groups and flags.
    import numpy as np

    from linkage.delta import link_delta, state_of
    from linkage.engine import link

    ds = dedup_municipal.with_duplicates(quality.municipal_dataset("kawase", 800, 12),
                                         "jumin", 0.05, 12)  # fmt: skip
    _, clks, t = quality.kakehashi_encode(ds, quality.secrets(1)[0])
    names = list(ds.records)
    dedup = [b == "jumin" for b in names]
    rng = np.random.default_rng(0)
    refs = [rng.integers(0, 256, (c.shape[0], 16), dtype=np.uint8) for c in clks]
    cut = [c.shape[0] - c.shape[0] // 10 for c in clks]
    first = link([c[:k] for c, k in zip(clks, cut, strict=True)], threshold=t, dedup=dedup,
                 threshold_from_data=False)  # fmt: skip
    state = state_of(names, [c[:k] for c, k in zip(clks, cut, strict=True)],
                     [r[:k] for r, k in zip(refs, cut, strict=True)], first,
                     dedup=["jumin"])  # fmt: skip
    full = link(clks, threshold=t, dedup=dedup, threshold_from_data=False)
    inc = link_delta(names, clks, refs, state, threshold=t, dedup=dedup).result
    assert full.stats["same_body_floor"] > t
    assert inc.stats["same_body_floor"] == full.stats["same_body_floor"]
    for a, b in zip(inc.group_of, full.group_of, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(inc.review, full.review)


def test_planting_a_move_needs_a_second_address() -> None:
    rows = [
        {"record_id": str(i), "full_name": "川瀬　花", "address": "川瀬市1-1"} for i in range(3)
    ]
    ds = quality.Dataset("t", {"a": rows}, {("a", str(i)): f"P{i}" for i in range(3)})
    with pytest.raises(ValueError, match="no other address"):
        dedup_municipal.with_duplicates(ds, "a", 1.0, 0)
