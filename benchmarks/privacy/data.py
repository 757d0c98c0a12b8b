"""The attacked data: a synthetic municipality, two bodies encoded with the real pipeline.

The target body's encodings are what the operator holds. The attacker's knowledge:
the public schema (it is public by design), the generator's name frequency tables as
"public name frequency lists", and for the graph attack a plaintext roster of some of
the target body's children (their records as that body holds them: the strongest roster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoders.pipeline import encode_rows
from linkage.schema import LinkageSchema
from synthetic import REFERENCE_DATE, generate
from synthetic.population import Person

SECRET = b"kakehashi-privacy-bench-secret!!"
"""The bodies' linkage secret in the benchmark; the attacker never uses it."""
ATTACKER_SECRET = b"attacker's own key, not the one!"
"""The attacker's own key, with which it encodes its roster under the public schema."""
BODIES = ("jumin", "gakko")


@dataclass
class EncodedBody:
    """One body's accepted records: canonical records, truth and encodings, aligned.

    ``clks`` is ``(n, bit_length/8)`` uint8; ``records[i]`` and ``person_ids[i]`` belong
    to ``clks[i]``.
    """

    key: str
    records: list[dict[str, str]]
    person_ids: list[str]
    clks: np.ndarray


@dataclass
class World:
    """The municipality, its persons by id, and the encoded bodies."""

    persons: dict[str, Person]
    bodies: dict[str, EncodedBody]
    schema: LinkageSchema
    n_children: int
    seed: int


def encode(
    records: list[dict[str, str]], schema: LinkageSchema, secret: bytes
) -> tuple[np.ndarray, np.ndarray]:
    """Encode canonical records with the department pipeline → (accepted index, clks)."""
    enc = encode_rows(records, schema, secret, today=REFERENCE_DATE)
    return enc.index, enc.clks


def build_world(
    n_children: int, schema: LinkageSchema, *, seed: int = 0, error_level: str = "normal"
) -> World:
    """Generate the municipality and encode ``BODIES`` with ``schema`` and :data:`SECRET`."""
    town = generate(n_children, seed=seed, error_level=error_level)
    bodies = {}
    for key in BODIES:
        export = town.bodies[key]
        records = export.canonical_records()
        index, clks = encode(records, schema, SECRET)
        keep = index.tolist()
        bodies[key] = EncodedBody(
            key,
            [records[i] for i in keep],
            [export.person_ids[i] for i in keep],
            clks,
        )
    persons = {p.person_id: p for p in town.persons}
    return World(persons, bodies, schema, n_children, seed)
