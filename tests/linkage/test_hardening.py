"""Hardening transforms (linkage.hardening) and their declaration in the schema."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from linkage import hardening as hd
from linkage.errors import SchemaError
from linkage.schema import builtin_schema, parse_schema

KEY = b"k" * 32


def clk_arrays(nbytes: int = 16) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.uint8, st.tuples(st.integers(1, 6), st.just(nbytes)))


def popcount(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x, axis=1).sum(axis=1)


@given(clk_arrays())
def test_xor_fold_halves_the_length_and_xors_the_halves(clks: np.ndarray) -> None:
    out = hd.xor_fold(clks, 1)
    assert out.shape == (clks.shape[0], 8)
    assert np.array_equal(out, clks[:, :8] ^ clks[:, 8:])
    assert hd.xor_fold(clks, 2).shape == (clks.shape[0], 4)


@given(clk_arrays())
def test_balance_sets_exactly_half_the_bits_whatever_the_input(clks: np.ndarray) -> None:
    out = hd.balance(clks, KEY)
    assert out.shape == (clks.shape[0], 32)
    assert (popcount(out) == 128).all()
    assert np.array_equal(out, hd.balance(clks, KEY))  # deterministic for a key


def test_balanced_hamming_distance_is_twice_the_original() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (2, 50, 16), dtype=np.uint8)
    before = popcount(a ^ b)
    after = popcount(hd.balance(a, KEY) ^ hd.balance(b, KEY))
    assert np.array_equal(after, 2 * before)


@given(clk_arrays())
def test_permute_keeps_the_popcount_and_depends_on_the_key(clks: np.ndarray) -> None:
    out = hd.permute(clks, KEY)
    assert np.array_equal(popcount(out), popcount(clks))
    perm_a = hd.keyed_permutation(KEY, 128)
    assert sorted(perm_a.tolist()) == list(range(128))
    assert not np.array_equal(perm_a, hd.keyed_permutation(b"other key", 128))


def test_rule90_on_a_single_bit() -> None:
    clk = np.zeros((1, 8), dtype=np.uint8)
    clk[0, 0] = 0b0100_0000  # bit position 1
    bits = np.unpackbits(hd.rule90(clk), axis=1)[0]
    assert np.flatnonzero(bits).tolist() == [0, 2]
    wrap = np.zeros((1, 8), dtype=np.uint8)
    wrap[0, 0] = 0b1000_0000  # bit 0: neighbours are 63 and 1 (cyclic)
    assert np.flatnonzero(np.unpackbits(hd.rule90(wrap), axis=1)[0]).tolist() == [1, 63]


@settings(max_examples=25)
@given(clk_arrays(), clk_arrays())
def test_diffusion_layer_is_linear_over_gf2(a: np.ndarray, b: np.ndarray) -> None:
    k = min(len(a), len(b))
    a, b = a[:k], b[:k]
    left = hd.diffuse(a ^ b, KEY, 3)
    right = hd.diffuse(a, KEY, 3) ^ hd.diffuse(b, KEY, 3)
    assert np.array_equal(left, right)
    taps = hd.keyed_taps(KEY, 128, 3)
    assert all(len(set(row)) == 3 for row in taps.tolist())


def test_blip_flips_bits_at_the_stated_rate() -> None:
    clks = np.zeros((400, 128), dtype=np.uint8)
    out = hd.blip(clks, 4.0, np.random.default_rng(0))
    rate = np.unpackbits(out).mean()
    p = hd.blip_probability(4.0)
    assert p == pytest.approx(1 / (1 + np.e**4))
    assert abs(rate - p) < 0.002
    with pytest.raises(ValueError, match="epsilon"):
        hd.blip_probability(0)


def test_output_bits_follows_fold_and_balance() -> None:
    assert hd.output_bits(1024, {}) == 1024
    assert hd.output_bits(1024, {"xor_fold": 1}) == 512
    assert hd.output_bits(1024, {"xor_fold": 1, "balance": True}) == 1024


def _v1_with(block: object) -> dict:
    doc = copy.deepcopy(builtin_schema("children-v1").document)
    doc["kakehashi"]["hardening"] = block
    return doc


def test_hardening_block_changes_the_schema_id_and_bit_length() -> None:
    v1 = builtin_schema("children-v1")
    folded = parse_schema(_v1_with({"xor_fold": 1}))
    assert folded.schema_id != v1.schema_id
    assert folded.bit_length == 512 and folded.clk_bit_length == 1024
    assert v1.hardening == {}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("fold", "must be a JSON object"),
        ({"shuffle": True}, "unknown step"),
        ({"xor_fold": -1}, "xor_fold"),
        ({"xor_fold": 5}, "not a multiple of 64"),
        ({"balance": "yes"}, "balance must be true or false"),
        ({"blip": {"epsilon": 0}}, "epsilon"),
        ({"blip": {}}, "epsilon"),
        ({"diffuse": {"taps": 1}}, "taps"),
        ({"salt": {"field": "birth", "chars": 4, "fields": ["surname"]}}, "not a feature"),
        ({"salt": {"field": "date_of_birth", "chars": 0, "fields": ["surname"]}}, "chars"),
        ({"salt": {"field": "date_of_birth", "chars": 4, "fields": []}}, "non-empty"),
        (
            {"salt": {"field": "date_of_birth", "chars": 4, "fields": ["date_of_birth"]}},
            "salt field itself",
        ),
    ],
)
def test_malformed_hardening_is_refused(block: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(_v1_with(block), source="test.json")
