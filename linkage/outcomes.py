"""Review outcomes → clustering constraints: known links and known non-links.

After the bodies have checked a group the engine flagged for review, the coordinator
records what they found. Each outcome divides some records (``(body, ref)``) into parts:

* ``confirmed`` — one part: these records are one person (known links);
* ``split`` — two or more parts: records within a part are one person, records in
  different parts are different people (known non-links);
* ``unsure`` — recorded, but no constraint: the group stays flagged.

A later outcome about a record replaces every earlier one about it (the newest answer
wins). Records that no longer exist (a body re-encoded its export, so its refs changed)
are ignored. Shapes: ``must_link`` and ``cannot_link`` are pairs of ``(m,)`` int64 arrays
of global record indices; ``decided`` is ``(n,)`` bool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from typing import Literal

import numpy as np

from linkage.errors import LinkageError

Outcome = Literal["confirmed", "split", "unsure"]
OUTCOMES: tuple[str, ...] = ("confirmed", "split", "unsure")
Record = tuple[str, str]


@dataclass(frozen=True)
class ReviewOutcome:
    """One recorded answer: ``parts`` of ``(body, ref)`` records."""

    outcome: Outcome
    parts: tuple[tuple[Record, ...], ...]

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise LinkageError(f"unknown review outcome {self.outcome!r}")
        if self.outcome == "split" and len(self.parts) < 2:
            raise LinkageError("a split outcome needs at least two parts")
        if self.outcome == "confirmed" and len(self.parts) != 1:
            raise LinkageError("a confirmed outcome has exactly one part")
        seen = [r for part in self.parts for r in part]
        if len(seen) != len(set(seen)):
            raise LinkageError("a record appears twice in one review outcome")


@dataclass(frozen=True)
class Constraints:
    must_link: tuple[np.ndarray, np.ndarray]
    cannot_link: tuple[np.ndarray, np.ndarray]
    decided: np.ndarray


def _pairs(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.asarray(pairs, np.int64)
    return arr[:, 0].copy(), arr[:, 1].copy()


def constraints(
    outcomes: Sequence[ReviewOutcome], index: Mapping[Record, int], n: int
) -> Constraints:
    """Constraints for a run over ``n`` records; ``outcomes`` oldest first.

    ``index`` maps each current record ``(body, ref)`` to its global index.
    """
    claimed: set[Record] = set()
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    decided = np.zeros(n, bool)
    for outcome in reversed(outcomes):
        parts = []
        for part in outcome.parts:
            mine = [r for r in part if r not in claimed]
            claimed.update(mine)
            parts.append([index[r] for r in mine if r in index])
        if outcome.outcome == "unsure":
            continue
        for part in parts:
            must.extend(pairwise(part))
            decided[part] = True
        for a, b in combinations([p for p in parts if p], 2):
            cannot.extend((x, y) for x in a for y in b)
    return Constraints(_pairs(must), _pairs(cannot), decided)
