"""Connected components of an edge list, vectorised: record parts (``linkage.review``'s
bridge evidence) and households (``linkage.family.households``)."""

from __future__ import annotations

import numpy as np


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph on nodes ``0 .. n-1`` with edges ``a[i]``–``b[i]``.

    Returns ``(n,)`` int64: each node's label is the smallest node of its component (a
    node without edges is its own). Label propagation with pointer jumping: every round
    each node takes the smallest label among itself and its neighbours, then the label of
    that label, until nothing changes; labels are always nodes of the component, so the
    fixed point is each component's smallest node.
    """
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    label = np.arange(n, dtype=np.int64)
    while a.size:
        new = label.copy()
        np.minimum.at(new, a, label[b])
        np.minimum.at(new, b, label[a])
        new = new[new]  # a label is a node of the component: follow it
        if np.array_equal(new, label):
            break
        label = new
    return label
