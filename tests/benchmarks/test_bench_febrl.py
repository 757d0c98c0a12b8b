"""FEBRL4 through Splink and Kakehashi's CLKs (slow: full linkages of 5 000 x 5 000)."""

from __future__ import annotations

import pytest

from benchmarks.accuracy import run_febrl


@pytest.mark.slow
def test_febrl4_both_methods() -> None:
    """Both methods on all of FEBRL4, at two points of each sweep instead of the full sweeps
    (11 Kakehashi thresholds, 6 Splink ones; each Kakehashi point is one full linkage): the
    best points of the published run (docs/benchmarks.md: Kakehashi 0.7, F1 0.988; Splink
    0.5, F1 1.000) and one stricter point each. The full sweeps are ``python -m
    benchmarks.accuracy``'s. Data and benchmark secret are fixed, so F1 is deterministic."""
    result = run_febrl(thresholds=(0.7, 0.8), splink_thresholds=(0.5, 0.9))
    for name, sweep in (("splink", [0.5, 0.9]), ("kakehashi", [0.7, 0.8])):
        curve = result["methods"][name]["curve"]
        assert [p["threshold"] for p in curve] == sweep
        best = result["methods"][name]["best"]
        assert best["true_pairs"] == 5000
        assert 0.95 <= best["f1"] <= 1
