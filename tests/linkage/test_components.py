from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.components import components


def _smallest_by_search(n: int, edges: list[tuple[int, int]]) -> list[int]:
    near: dict[int, set[int]] = {x: set() for x in range(n)}
    for a, b in edges:
        near[a].add(b)
        near[b].add(a)
    out = [-1] * n
    for x in range(n):
        if out[x] >= 0:
            continue
        seen, todo = {x}, [x]
        while todo:
            for y in near[todo.pop()] - seen:
                seen.add(y)
                todo.append(y)
        for y in seen:
            out[y] = min(seen)
    return out


@given(st.integers(0, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0))),
                         max_size=60 if n else 0))))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_each_node_is_labelled_with_the_smallest_node_of_its_component(case) -> None:
    n, edges = case
    a = np.array([e[0] for e in edges], np.int64)
    b = np.array([e[1] for e in edges], np.int64)
    assert components(n, a, b).tolist() == _smallest_by_search(n, edges)


def test_a_long_chain_is_one_component() -> None:
    n = 5000
    order = np.random.default_rng(0).permutation(n)
    label = components(n, order[:-1], order[1:])
    assert (label == 0).all()
