"""The cross-generator quality benchmark on a tiny town: runs end to end, scores sensibly."""

from __future__ import annotations

from benchmarks import quality


def test_helpers_count_wrong_groups_and_sibling_merges() -> None:
    truth = {("a", "1"): "P1", ("b", "1"): "P1", ("a", "2"): "P2", ("b", "2"): "P2"}
    ds = quality.Dataset("t", {"a": [], "b": []}, truth, twin_pairs=[("P1", "P2")],
                         household={"P1": 1, "P2": 1})  # fmt: skip
    perfect = {("a", "1"): 0, ("b", "1"): 0, ("a", "2"): 1, ("b", "2"): 1}
    assert quality.wrong_groups(perfect, truth) == set()
    merged = {("a", "1"): 0, ("b", "1"): 1, ("a", "2"): 1, ("b", "2"): 2}
    assert quality.wrong_groups(merged, truth) == {0, 1, 2}
    assert quality.sibling_merges(merged, ds) == {"sibling_merges": 0, "twin_merges": 1}
    r = quality.review_scores(merged, {1, 5}, truth)
    assert r["flagged_wrong"] == 1 and r["flag_precision"] == 0.5 and r["flag_recall"] == 1 / 3


def test_review_is_scored_over_the_records_that_reached_the_linkage() -> None:
    # P1's record in body b was rejected by the encoder: it is not in ``pred``. P1's
    # remaining record alone is a right group for the review (nothing else was
    # submitted); the strict reading counts it and the rejected record as wrong.
    truth = {("a", "1"): "P1", ("b", "1"): "P1", ("a", "2"): "P2", ("b", "2"): "P2"}
    pred = {("a", "1"): 0, ("a", "2"): 1, ("b", "2"): 1}
    r = quality.review_scores(pred, {1}, truth)
    assert r["wrong_groups"] == 0 and r["flag_precision"] == 0.0 and r["flag_recall"] == 1.0
    assert r["rejected_records"] == 1
    assert r["wrong_groups_all"] == 2 and r["flag_recall_all"] == 0.0
    # A mixed group is wrong on both readings.
    pred = {("a", "1"): 0, ("a", "2"): 1, ("b", "2"): 0}
    r = quality.review_scores(pred, {0}, truth)
    assert r["wrong_groups"] == 2 and r["flagged_wrong"] == 1 and r["flag_recall"] == 0.5


def test_one_name_twins_are_the_twins_registered_under_their_co_twins_given_name() -> None:
    pairs = [("A", "B"), ("C", "D"), ("E", "F")]
    given = {"A": "ビカシュ", "B": "ビカシュ", "C": "陽葵", "D": "陽菜", "E": "", "F": ""}
    assert quality.one_name_twins(pairs, given) == {"A", "B"}  # no name is not one name


def test_kawase_reports_one_name_twins_apart() -> None:
    ds = quality.municipal_dataset("kawase", 3000, seed=15)
    one = ds.subgroups["twins_one_name"]
    assert one and one < ds.subgroups["twins"]
    by_pair = {frozenset(p) for p in ds.twin_pairs}
    assert all(any(p in pair and pair <= one for pair in by_pair) for p in one)


def test_runs_on_a_small_second_town(tmp_path) -> None:
    args = ["--size", "150", "--secrets", "1", "--datasets", "kawase",
            "--methods", "kakehashi,clkhash_anonlink", "--out", str(tmp_path)]  # fmt: skip
    code = quality.main(args)
    assert code == 0
    import json

    (result,) = json.loads((tmp_path / "quality.json").read_text())
    for method in ("kakehashi", "clkhash_anonlink"):
        m = result["methods"][method]
        assert m["f1"]["mean"] > 0.9
        assert set(m["subgroup_recall"]) >= {"moved", "twins", "foreign", "missing"}
    assert "review" in result["methods"]["kakehashi"]
    assert "| kawase | kakehashi |" in (tmp_path / "quality.md").read_text()
