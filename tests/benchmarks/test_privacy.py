"""The privacy benchmark's attacks work on unhardened encodings and fail on the default."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.privacy import attacks
from benchmarks.privacy.data import ATTACKER_SECRET, build_world, encode
from linkage.schema import builtin_schema, default_schema


def _graph(schema_name: str) -> tuple[dict, dict]:
    schema = builtin_schema(schema_name) if schema_name != "default" else default_schema()
    world = build_world(400, schema, seed=1)
    target = world.bodies["jumin"]
    index, roster = encode(target.records, schema, ATTACKER_SECRET)
    truth = index.astype(np.int64)
    seeds = [(int(truth[j]), j) for j in random.Random(0).sample(range(len(truth)), 10)]
    graph = attacks.graph_attack(target.clks, roster, truth, seeds=seeds)
    dup = attacks.duplicate_share(target.clks, world.bodies["gakko"].clks)
    return graph, dup


@pytest.mark.parametrize("schema_name", ["children-v1", "default"])
def test_graph_attack_and_duplicates(schema_name: str) -> None:
    graph, dup = _graph(schema_name)
    assert graph["records"] == 400
    if schema_name == "children-v1":
        assert graph["reidentified"] > 0.3 and graph["precision"] > 0.8
        assert dup["a_in_b"] > 0.2  # the same child's CLK, byte for byte, in both bodies
    else:
        # The default's random bit flips draw fresh OS entropy (never seeded), so this
        # varies run to run: 3–6 % at 400 children with ~10 % precision (chance matches
        # of a small roster; 0.10 % at 5,000 children in docs/privacy.md). The bound
        # keeps a wide margin to that spread and to v1's > 30 % at > 80 % precision.
        assert graph["reidentified"] < 0.12 and graph["precision"] < 0.3
        assert dup["a_in_b"] == 0.0


def test_popcount_leakage_and_decoding_shapes() -> None:
    rng = np.random.default_rng(0)
    clks = rng.integers(0, 256, (50, 16), dtype=np.uint8)
    leak = attacks.popcount_leakage(clks, rng.integers(2, 6, 50).tolist())
    assert -1 <= leak["corr_name_length"] <= 1
    same = np.full((50, 16), 0xF0, dtype=np.uint8)
    assert attacks.popcount_leakage(same, list(range(50)))["corr_name_length"] is None
    # a pattern learned from three matched records decodes the records that carry it
    clks[:10, :2] = 0xFF
    clks[10:, :2] = 0x00
    decoded = attacks.pattern_decode(
        clks, [(0, 0), (1, 1), (2, 2)], ["佐藤"] * 3, ["佐藤"] * 10 + ["鈴木"] * 40
    )
    assert decoded["correct"] == 10 and decoded["precision"] == 1.0
