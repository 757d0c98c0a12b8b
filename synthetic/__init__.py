"""Synthetic municipality: children, households and the exports of five holding bodies.

Entirely synthetic (names drawn from the ``gimei`` list, a fictional city 架橋市); no
personal data of real people. See ``docs/benchmarks.md`` for the error rates.

    >>> from synthetic import generate
    >>> town = generate(2000, seed=0, error_level="normal")
    >>> paths = town.write_exports(Path("out"))  # doctest: +SKIP
"""

from synthetic.bodies import BODIES, BodySpec
from synthetic.errors import ERROR_LEVELS, ErrorRates
from synthetic.municipality import (
    CANONICAL_KEYS,
    SCENARIOS,
    BodyExport,
    Municipality,
    generate,
    scenario,
)
from synthetic.population import REFERENCE_DATE, Person

__all__ = [
    "BODIES",
    "CANONICAL_KEYS",
    "ERROR_LEVELS",
    "REFERENCE_DATE",
    "SCENARIOS",
    "BodyExport",
    "BodySpec",
    "ErrorRates",
    "Municipality",
    "Person",
    "generate",
    "scenario",
]
