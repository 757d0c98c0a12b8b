"""Linkage summary counts with small-cell suppression, computed from the token table.

Every count shown on the dashboard's summary page comes from here. A count ``0 < n < k``
is shown as ``"<k"``; zero is shown as ``0`` (an empty cell says nothing about a child).
Where a table publishes totals (the groups-by-bodies table its grand total, the
intersections of the UpSet chart each body's number of records), one hidden cell could be
worked out by subtraction; :func:`suppress_linear` therefore hides further cells until no
published sum has exactly one hidden cell (complementary suppression).

Shapes: ``rows`` is ``[(token, body, ref)]``; ``bodies`` the project's body names in order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_K = 10


def shown(n: int, hidden: bool, k: int) -> str:
    """How a count is printed: the number, or ``"<k"`` when it is hidden."""
    return f"<{k}" if hidden else f"{n:,}"


def primary(values: Sequence[int], k: int) -> list[bool]:
    """Hidden flags: counts ``1 .. k-1``."""
    return [0 < v < k for v in values]


def suppress_linear(
    values: Sequence[int],
    relations: Iterable[Sequence[int]],
    k: int,
    public: Iterable[int] = (),
) -> list[bool]:
    """Primary plus complementary suppression.

    ``relations`` lists index sets tied by a known linear relation (a published total,
    or one cell being the sum of others): while one of them holds exactly one hidden cell,
    that cell could be worked out, so the smallest other non-zero cell in it is hidden
    too. A relation with a lone hidden cell and no other non-zero cell is exact only if
    its total is known: then the cell equals that total. ``public`` cells are known
    elsewhere (a body's number of records is on the overview page), so they are never
    hidden and never used to protect another cell.
    """
    fixed = set(public)
    hidden = [h and i not in fixed for i, h in enumerate(primary(values, k))]
    groups = [list(g) for g in relations]
    changed = True
    while changed:
        changed = False
        for group in groups:
            if sum(hidden[i] for i in group) != 1:
                continue
            others = [i for i in group if not hidden[i] and values[i] > 0 and i not in fixed]
            if not others:
                continue
            hidden[min(others, key=lambda i: (values[i], i))] = True
            changed = True
    return hidden


@dataclass(frozen=True)
class Cell:
    value: int
    hidden: bool
    text: str


@dataclass(frozen=True)
class Summary:
    """What the summary page shows.

    ``by_bodies``: number of bodies in a group (1 .. n) → groups; ``total`` groups.
    ``overlap``: ``overlap[a][b]`` = groups holding records of both bodies a and b
    (``a == b``: groups holding a record of a). ``intersections``: exact body sets of the
    groups, largest first (the UpSet chart). ``flagged``: groups flagged for review.
    """

    k: int
    bodies: tuple[str, ...]
    by_bodies: list[tuple[int, Cell]]
    total: Cell
    overlap: list[list[Cell]]
    intersections: list[tuple[tuple[str, ...], Cell]]
    flagged: Cell
    records: dict[str, Cell]


def _cells(values: Sequence[int], hidden: Sequence[bool], k: int) -> list[Cell]:
    return [Cell(v, h, shown(v, h, k)) for v, h in zip(values, hidden, strict=True)]


def summarise(
    rows: Iterable[tuple[str, str, str]],
    bodies: Sequence[str],
    flagged_tokens: Iterable[str],
    k: int = DEFAULT_K,
) -> Summary:
    """Suppressed counts for the token table ``rows`` (see module doc)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    members: dict[str, set[str]] = defaultdict(set)
    for token, body, _ref in rows:
        members[token].add(body)
    order = {b: i for i, b in enumerate(bodies)}
    for token_bodies in members.values():
        for b in token_bodies:
            order.setdefault(b, len(order))
    names = tuple(sorted(order, key=order.__getitem__))
    n = len(names)

    # One system of cells: groups by number of bodies (n cells), the exact body sets
    # (m cells) and the overlap matrix's upper triangle. Relations: the grand total; each
    # size equals the sum of its body sets; each overlap cell equals the sum of the body
    # sets holding both bodies. The diagonal (a body's records) is public: the overview
    # shows each body's upload count.
    sizes = Counter(len(bs) for bs in members.values())
    size_values = [sizes.get(s, 0) for s in range(1, n + 1)]
    total = sum(size_values)
    sets = Counter(tuple(sorted(bs, key=order.__getitem__)) for bs in members.values())
    combos = sorted(sets, key=lambda c: (-sets[c], [order[b] for b in c]))
    m = len(combos)
    pairs = [(a, b) for a in range(n) for b in range(a, n)]
    pair_value = [sum(sets[c] for c in combos if {names[a], names[b]} <= set(c)) for a, b in pairs]
    values = size_values + [sets[c] for c in combos] + pair_value
    relations: list[list[int]] = [list(range(n))]
    for s in range(1, n + 1):
        relations.append([s - 1] + [n + i for i, c in enumerate(combos) if len(c) == s])
    for p, (a, b) in enumerate(pairs):
        both = {names[a], names[b]}
        relations.append([n + m + p] + [n + i for i, c in enumerate(combos) if both <= set(c)])
    public = [n + m + p for p, (a, b) in enumerate(pairs) if a == b]
    hidden = suppress_linear(values, relations, k, public)
    cells = _cells(values, hidden, k)
    by_bodies = list(zip(range(1, n + 1), cells[:n], strict=True))
    total_cell = Cell(total, 0 < total < k, shown(total, 0 < total < k, k))
    intersections = list(zip(combos, cells[n : n + m], strict=True))
    overlap: list[list[Cell]] = [[cells[0]] * n for _ in range(n)]
    for p, (a, b) in enumerate(pairs):
        overlap[a][b] = overlap[b][a] = cells[n + m + p]

    flagged = len(set(flagged_tokens) & members.keys())
    flagged_cell = Cell(flagged, 0 < flagged < k, shown(flagged, 0 < flagged < k, k))
    records = {names[i]: overlap[i][i] for i in range(n)}
    return Summary(k, names, by_bodies, total_cell, overlap, intersections, flagged_cell, records)
