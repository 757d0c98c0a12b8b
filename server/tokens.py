"""Assigning tokens to a run's groups, keeping earlier tokens stable where groups held.

A group keeps an old token ``T`` when the records it contains that had a token before all
had ``T`` and every still-present record that had ``T`` is in this group. Otherwise it
gets a new token, and the change is recorded as a ``merge`` (the group joins records of
several old tokens) or a ``split`` (an old token's records went to several groups).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from linkage.tokens import new_token


@dataclass
class TokenAssignment:
    """Tokens per record and the merge/split events.

    Attributes:
        tokens: one token per record, aligned with the concatenated records of all bodies.
        events: ``(kind, old_tokens, new_tokens)`` tuples.
        kept: number of groups that kept an old token.
    """

    tokens: list[str]
    events: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    kept: int = 0


def assign_tokens(
    groups: np.ndarray,
    old_tokens: list[str | None],
    make_token: Callable[[], str] = new_token,
) -> TokenAssignment:
    """Assign a token to every group.

    Args:
        groups: ``(n,)`` int64 group index of each record (all bodies concatenated).
        old_tokens: ``n`` entries, the record's token from the previous run or None.
        make_token: token factory (random 128-bit hex by default).
    """
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups.tolist()):
        members[group].append(index)
    groups_of_old: dict[str, set[int]] = defaultdict(set)
    for index, token in enumerate(old_tokens):
        if token is not None:
            groups_of_old[token].add(int(groups[index]))

    token_of_group: dict[int, str] = {}
    result = TokenAssignment(tokens=[""] * len(old_tokens))
    for group, indices in members.items():
        olds = {old_tokens[i] for i in indices if old_tokens[i] is not None}
        if len(olds) == 1:
            (old,) = olds
            if groups_of_old[old] == {group}:  # type: ignore[index]
                token_of_group[group] = old  # type: ignore[assignment]
                result.kept += 1
                continue
        token_of_group[group] = make_token()
        if len(olds) > 1:
            result.events.append(("merge", sorted(olds), [token_of_group[group]]))  # type: ignore[arg-type]
    for old, gs in groups_of_old.items():
        if len(gs) > 1:
            result.events.append(("split", [old], sorted(token_of_group[g] for g in gs)))
    result.tokens = [token_of_group[int(g)] for g in groups.tolist()]
    return result
