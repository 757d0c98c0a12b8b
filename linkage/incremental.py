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

The work is done on arrays (``assign_tokens``): old tokens are numbered in string order,
each distinct (group, old token) pair is counted with ``numpy.unique``, and only the pairs
that share a group or a token with another pair go through the ordered, one-by-one choice;
every other pair keeps its token outright. ``update_tokens`` takes and returns strings;
``update_token_bytes`` takes and returns 16-byte tokens as ``(n, 16)`` uint8 arrays, so a
server run of a million records builds no Python string per record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.errors import LinkageError
from linkage.tokens import new_token, new_token_bytes


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


@dataclass(frozen=True)
class TokenAssignment:
    """Which old token each group of a new run keeps, with token and group numbers only.

    Attributes:
        group_token: ``(n_groups,)`` int64, the old token number a group keeps, ``-1``
            for a group that needs a fresh token.
        merges: ``(group, old token numbers)`` for each group holding records of two or
            more old tokens, by group; the numbers ordered oldest first, then by number.
        splits: ``(old token number, groups)`` for each old token whose records lie in two
            or more groups, by token number; the groups ascending.
        retired: old token numbers present in ``previous`` that no group keeps, ascending.
        present: ``(n_old,)`` bool, which old tokens occur in ``previous``.
    """

    group_token: np.ndarray
    merges: list[tuple[int, tuple[int, ...]]]
    splits: list[tuple[int, tuple[int, ...]]]
    retired: list[int]
    present: np.ndarray


def assign_tokens(
    previous: np.ndarray,
    group_of: np.ndarray,
    n_groups: int,
    n_old: int,
    *,
    age: np.ndarray | None = None,
) -> TokenAssignment:
    """Decide which old token each group keeps (the rule of the module docstring).

    Args:
        previous: ``(n,)`` int, old token number of each record (``0 .. n_old-1``, numbered
            in the tokens' string order, which breaks ties), ``-1`` for a new record.
        group_of: ``(n,)`` int, new group of each record (``0 .. n_groups-1``).
        n_groups: number of groups in the new run.
        n_old: number of old tokens.
        age: optional ``(n_old,)`` float rank of each old token, smaller is older
            (``inf`` for unknown).

    Raises:
        LinkageError: if lengths differ or an index is out of range.
    """
    groups = np.asarray(group_of, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    if groups.shape != prev.shape or groups.ndim != 1:
        raise LinkageError("previous tokens and group_of must have the same length")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise LinkageError("group_of holds an index outside 0 .. n_groups-1")
    if prev.size and (prev.min() < -1 or prev.max() >= n_old):
        raise LinkageError("previous holds a token number outside -1 .. n_old-1")
    ages = np.full(n_old, np.inf) if age is None else np.asarray(age, dtype=np.float64)
    has = prev >= 0
    # Distinct (group, old token) pairs and how many records each holds.
    keys, counts = np.unique(groups[has] * max(n_old, 1) + prev[has], return_counts=True)
    pg, pt = keys // max(n_old, 1), keys % max(n_old, 1)
    per_group = np.bincount(pg, minlength=n_groups)
    per_token = np.bincount(pt, minlength=n_old)
    group_token = np.full(n_groups, -1, dtype=np.int64)
    # A pair alone in its group and alone for its token keeps the token whatever the order.
    alone = (per_group[pg] == 1) & (per_token[pt] == 1)
    group_token[pg[alone]] = pt[alone]
    taken = np.zeros(n_old, dtype=bool)
    taken[pt[alone]] = True
    # The others in priority order: more records, older token, smaller token, smaller group.
    cg, ct, cc = pg[~alone], pt[~alone], counts[~alone]
    for i in np.lexsort((cg, ct, ages[ct], -cc)).tolist():
        g, t = int(cg[i]), int(ct[i])
        if group_token[g] < 0 and not taken[t]:
            group_token[g] = t
            taken[t] = True
    merges: list[tuple[int, tuple[int, ...]]] = []
    many = per_group[cg] > 1
    if many.any():
        mg, mt = cg[many], ct[many]
        order = np.lexsort((mt, ages[mt], mg))
        mg, mt = mg[order], mt[order]
        cuts = np.flatnonzero(np.diff(mg)) + 1
        for gs, ts in zip(np.split(mg, cuts), np.split(mt, cuts), strict=True):
            merges.append((int(gs[0]), tuple(ts.tolist())))
    splits: list[tuple[int, tuple[int, ...]]] = []
    many = per_token[ct] > 1
    if many.any():
        st, sg = ct[many], cg[many]
        order = np.lexsort((sg, st))
        st, sg = st[order], sg[order]
        cuts = np.flatnonzero(np.diff(st)) + 1
        for ts, gs in zip(np.split(st, cuts), np.split(sg, cuts), strict=True):
            splits.append((int(ts[0]), tuple(gs.tolist())))
    present = per_token > 0
    retired = np.flatnonzero(present & ~taken).tolist()
    return TokenAssignment(group_token, merges, splits, retired, present)


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
    olds = sorted({tok for tok in previous if tok})
    number = {tok: i for i, tok in enumerate(olds)}
    prev = np.fromiter(
        (number[tok] if tok else -1 for tok in previous), dtype=np.int64, count=len(previous)
    )
    age = token_age or {}
    ages = np.array([age.get(tok, np.inf) for tok in olds], dtype=np.float64)
    done = assign_tokens(prev, groups, n_groups, len(olds), age=ages)
    group_tokens: list[str] = []
    minted: list[str] = []
    minted_set: set[str] = set()
    for t in done.group_token.tolist():
        if t >= 0:
            group_tokens.append(olds[t])
            continue
        tok = new_token()
        while tok in number or tok in minted_set:
            tok = new_token()
        group_tokens.append(tok)
        minted.append(tok)
        minted_set.add(tok)
    return TokenUpdate(
        group_tokens=group_tokens,
        record_tokens=[group_tokens[g] for g in groups.tolist()],
        merges=[MergeEvent(group_tokens[g], tuple(olds[t] for t in ts)) for g, ts in done.merges],
        splits=[SplitEvent(olds[t], tuple(group_tokens[g] for g in gs)) for t, gs in done.splits],
        new_tokens=minted,
        retired_tokens=[olds[t] for t in done.retired],
    )


@dataclass(frozen=True)
class TokenBytesUpdate:
    """Tokens after an incremental run, as bytes (``update_token_bytes``).

    Attributes:
        group_tokens: ``(n_groups, 16)`` uint8, the token of each group.
        merges, splits: events for the coordinator (tokens as 32 hex characters).
        n_new: how many groups got a fresh token.
        retired_tokens: old tokens (hex) no group keeps any more.
    """

    group_tokens: np.ndarray
    merges: list[MergeEvent]
    splits: list[SplitEvent]
    n_new: int
    retired_tokens: list[str]


def update_token_bytes(
    previous: np.ndarray, old_tokens: np.ndarray, group_of: np.ndarray, n_groups: int
) -> TokenBytesUpdate:
    """``update_tokens`` for 16-byte tokens held in arrays (no token age).

    Args:
        previous: ``(n,)`` int, row of ``old_tokens`` each record had, ``-1`` if none.
        old_tokens: ``(n_old, 16)`` uint8, distinct old tokens sorted by their bytes (so
            their hex strings are in string order, as ``update_tokens`` breaks ties).
        group_of: ``(n,)`` new group of each record.
        n_groups: number of groups in the new run.

    Fresh tokens are random (``linkage.tokens.new_token_bytes``) and differ from every
    old token.
    """
    old = np.ascontiguousarray(old_tokens, dtype=np.uint8).reshape(-1, 16)
    done = assign_tokens(previous, group_of, n_groups, len(old))
    fresh = done.group_token < 0
    n_new = int(np.count_nonzero(fresh))
    out = np.empty((n_groups, 16), dtype=np.uint8)
    out[~fresh] = old[done.group_token[~fresh]]
    out[fresh] = new_token_bytes(n_new, avoid=old)

    def hexed(rows: np.ndarray) -> list[str]:
        blob = rows.tobytes().hex()
        return [blob[i : i + 32] for i in range(0, len(blob), 32)]

    return TokenBytesUpdate(
        group_tokens=out,
        merges=[MergeEvent(hexed(out[g])[0], tuple(hexed(old[list(ts)]))) for g, ts in done.merges],
        splits=[SplitEvent(hexed(old[t])[0], tuple(hexed(out[list(gs)]))) for t, gs in done.splits],
        n_new=n_new,
        retired_tokens=hexed(old[done.retired]),
    )
