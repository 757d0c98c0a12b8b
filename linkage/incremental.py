"""Incremental linkage: keep tokens stable across runs and report merges and splits.

Given each record's token from the previous run (``None`` for a record that is new) and
the grouping of the new run, every group gets a token:

* an old token stays with the new group that holds most of its old records; between
  groups that hold equally many, or when a group holds several old tokens, the token
  held by more of the group's records wins, then the older token (``token_age``), then the
  smaller token string — so the outcome is deterministic;
* a group that keeps no old token gets a fresh random token.

Events: a group holding records of two or more old tokens is a ``MergeEvent``; an old
token whose records now lie in two or more groups is a ``SplitEvent``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.errors import LinkageError
from linkage.tokens import new_token


@dataclass(frozen=True)
class MergeEvent:
    """Old tokens whose records now form one group; the group keeps ``token``."""

    token: str
    merged: tuple[str, ...]


@dataclass(frozen=True)
class SplitEvent:
    """An old token whose records now lie in several groups with tokens ``into``."""

    token: str
    into: tuple[str, ...]


@dataclass(frozen=True)
class TokenUpdate:
    """Tokens after an incremental run.

    Attributes:
        group_tokens: one token per group (``n_groups`` strings).
        record_tokens: token of each record, in the order records were given.
        merges, splits: events for the coordinator.
        new_tokens: tokens minted in this run.
        retired_tokens: old tokens no group keeps any more.
    """

    group_tokens: list[str]
    record_tokens: list[str]
    merges: list[MergeEvent]
    splits: list[SplitEvent]
    new_tokens: list[str]
    retired_tokens: list[str]


def update_tokens(
    previous: Sequence[str | None],
    group_of: Sequence[int] | np.ndarray,
    n_groups: int,
    *,
    token_age: Mapping[str, int] | None = None,
) -> TokenUpdate:
    """Assign tokens to the groups of a new run, keeping old tokens where they belong.

    Args:
        previous: ``(n,)`` old token of each record, ``None`` for new records.
        group_of: ``(n,)`` new group of each record (``0 .. n_groups-1``).
        n_groups: number of groups in the new run.
        token_age: optional rank of each old token, smaller is older (e.g. issue order).

    Raises:
        LinkageError: if lengths differ or a group index is out of range.
    """
    groups = np.asarray(group_of, dtype=np.int64)
    if groups.shape != (len(previous),):
        raise LinkageError("previous tokens and group_of must have the same length")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise LinkageError("group_of holds an index outside 0 .. n_groups-1")
    age = token_age or {}
    counts: Counter[tuple[int, str]] = Counter(
        (int(g), tok) for g, tok in zip(groups.tolist(), previous, strict=True) if tok
    )
    per_token: dict[str, set[int]] = {}
    per_group: dict[int, set[str]] = {}
    for g, tok in counts:
        per_token.setdefault(tok, set()).add(g)
        per_group.setdefault(g, set()).add(tok)

    def priority(item: tuple[tuple[int, str], int]) -> tuple:
        (g, tok), c = item
        return (-c, age.get(tok, float("inf")), tok, g)

    group_tokens: list[str | None] = [None] * n_groups
    taken: set[str] = set()
    for (g, tok), _ in sorted(counts.items(), key=priority):
        if group_tokens[g] is None and tok not in taken:
            group_tokens[g] = tok
            taken.add(tok)
    minted: list[str] = []
    minted_set: set[str] = set()
    for g in range(n_groups):
        if group_tokens[g] is None:
            tok = new_token()
            while tok in per_token or tok in minted_set:
                tok = new_token()
            group_tokens[g] = tok
            minted.append(tok)
            minted_set.add(tok)
    final: list[str] = [t for t in group_tokens if t is not None]
    merges = [
        MergeEvent(final[g], tuple(sorted(olds, key=lambda t: (age.get(t, float("inf")), t))))
        for g, olds in sorted(per_group.items())
        if len(olds) > 1
    ]
    splits = [
        SplitEvent(tok, tuple(final[g] for g in sorted(gs)))
        for tok, gs in sorted(per_token.items())
        if len(gs) > 1
    ]
    retired = sorted(set(per_token) - taken)
    return TokenUpdate(
        group_tokens=final,
        record_tokens=[final[g] for g in groups.tolist()],
        merges=merges,
        splits=splits,
        new_tokens=minted,
        retired_tokens=retired,
    )
