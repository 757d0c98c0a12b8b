"""Join a coordinator's token table with the bodies' keys files and the generator's truth.

Only the demo and the tests do this: in real use nobody holds all keys files together.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path


@dataclass(frozen=True)
class DemoScore:
    tokens: int
    records: int
    groups_by_bodies: dict[int, int]
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def read_token_table(path: Path) -> list[tuple[str, str, str]]:
    """Rows ``(token, body, ref)`` of a token table CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["token"], r["body"], r["ref"]) for r in csv.DictReader(handle)]


def score(
    token_rows: list[tuple[str, str, str]],
    keys: dict[str, dict[str, str]],
    truth: dict[tuple[str, str], str],
) -> DemoScore:
    """Pairwise precision/recall across bodies.

    Args:
        token_rows: ``(token, body, ref)`` rows of the token table.
        keys: body -> (ref -> record id), from each body's keys file.
        truth: (body, record id) -> person id, from the generator.
    """
    members: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for token, body, ref in token_rows:
        members[token].append((body, keys[body][ref]))
    predicted = set()
    for group in members.values():
        for a, b in combinations(sorted(group), 2):
            if a[0] != b[0]:
                predicted.add((a, b))
    by_person: dict[str, list[tuple[str, str]]] = defaultdict(list)
    encoded = {(body, rid) for body, table in keys.items() for rid in table.values()}
    for record, person in truth.items():
        if record in encoded:
            by_person[person].append(record)
    true_pairs = set()
    for group in by_person.values():
        for a, b in combinations(sorted(group), 2):
            if a[0] != b[0]:
                true_pairs.add((a, b))
    bodies_per_token = Counter(len({body for body, _ in group}) for group in members.values())
    return DemoScore(
        tokens=len(members),
        records=len(token_rows),
        groups_by_bodies=dict(sorted(bodies_per_token.items())),
        true_pairs=len(true_pairs),
        predicted_pairs=len(predicted),
        correct_pairs=len(predicted & true_pairs),
    )
