"""Join a coordinator's token table with the bodies' keys files and the generator's truth.

Only the demo and the tests do this: in real use nobody holds all keys files together.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
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
    """Pairwise precision/recall across bodies, by ``synthetic.metrics.score``.

    Args:
        token_rows: ``(token, body, ref)`` rows of the token table.
        keys: body -> (ref -> record id), from each body's keys file.
        truth: (body, record id) -> person id, from the generator.

    Only records that were encoded count: a row the encoder rejected is not a missed link.
    """
    from synthetic.metrics import score as pair_scores

    predicted = {(body, keys[body][ref]): token for token, body, ref in token_rows}
    scores = pair_scores(predicted, {k: v for k, v in truth.items() if k in predicted})
    bodies: dict[str, set[str]] = defaultdict(set)
    for token, body, _ in token_rows:
        bodies[token].add(body)
    return DemoScore(
        tokens=len(bodies),
        records=len(token_rows),
        groups_by_bodies=dict(sorted(Counter(len(b) for b in bodies.values()).items())),
        true_pairs=scores.true_pairs,
        predicted_pairs=scores.predicted_pairs,
        correct_pairs=scores.correct_pairs,
    )
