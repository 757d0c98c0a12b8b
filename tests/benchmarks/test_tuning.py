"""The weight/threshold search's pure parts: schema edits, objective, threshold choice."""

from __future__ import annotations

from typing import Any

from benchmarks.tuning import bits_of, choose_threshold, objective, with_bits
from linkage.schema import default_schema, parse_schema, schema_id_of


def _point(t: float, p: float, r: float, twins: int = 0) -> dict[str, Any]:
    return {"threshold": t, "precision": p, "recall": r, "f1": 2 * p * r / (p + r),
            "twins_merged": twins}  # fmt: skip


def test_with_bits_changes_only_the_named_weights() -> None:
    doc = default_schema().document
    bits = bits_of(doc)
    changed = with_bits(doc, {"sex": bits["sex"] + 5}, threshold=0.9)
    assert bits_of(changed) == {**bits, "sex": bits["sex"] + 5}
    assert changed["kakehashi"]["default_threshold"] == 0.9
    assert bits_of(doc) == bits  # the original is not modified
    assert schema_id_of(changed) != schema_id_of(doc)
    parse_schema(changed)


def test_objective_is_mean_f1_when_feasible_and_penalised_otherwise() -> None:
    ok = [_point(0.8, 0.996, 0.99), _point(0.8, 0.999, 0.98)]
    assert objective(ok, 0.995) == (ok[0]["f1"] + ok[1]["f1"]) / 2
    low = [_point(0.8, 0.990, 0.99), _point(0.8, 0.999, 0.98)]
    assert objective(low, 0.995) < (low[0]["f1"] + low[1]["f1"]) / 2
    twins = [_point(0.8, 0.996, 0.99, twins=1), _point(0.8, 0.999, 0.98)]
    assert objective(twins, 0.995) < objective(ok, 0.995) - 0.9


def test_choose_threshold_prefers_feasible_points() -> None:
    normal = [_point(0.7, 0.990, 0.999), _point(0.8, 0.996, 0.99), _point(0.9, 0.999, 0.90)]
    dirty = [_point(0.7, 0.985, 0.99), _point(0.8, 0.995, 0.98), _point(0.9, 0.999, 0.85)]
    t, value, feasible = choose_threshold([normal, dirty], 0.995)
    assert (t, feasible) == (0.8, True)
    assert value == objective([normal[1], dirty[1]], 0.995)
    t, _, feasible = choose_threshold([normal[:1], dirty[:1]], 0.995)
    assert (t, feasible) == (0.7, False)
