"""FEBRL4 through Splink and Kakehashi's CLKs (slow: two full linkages of 5 000 x 5 000)."""

from __future__ import annotations

import pytest

from benchmarks.accuracy import run_febrl


@pytest.mark.slow
def test_febrl4_both_methods() -> None:
    result = run_febrl()
    for name in ("splink", "kakehashi"):
        best = result["methods"][name]["best"]
        assert best["true_pairs"] == 5000
        assert 0 < best["f1"] <= 1
