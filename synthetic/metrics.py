"""Linkage accuracy against the synthetic truth.

Records are keyed ``(body, record_id)``. A prediction maps each record to a group token
(any hashable); the truth maps it to a person id. Only pairs of records held by
*different* bodies count: linking is across bodies, and a body holds at most one record
per child.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from math import comb

RecordKey = tuple[str, str]


def _cross_body_pairs(groups: Iterable[Counter[str]]) -> int:
    """Pairs inside each group whose two records come from different bodies.

    Each group is a Counter body -> number of records of that group in that body.
    """
    total = 0
    for per_body in groups:
        n = sum(per_body.values())
        total += comb(n, 2) - sum(comb(k, 2) for k in per_body.values())
    return total


def _group(keys: Iterable[RecordKey], label: Mapping[RecordKey, Hashable]) -> dict:
    out: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for key in keys:
        out[label[key]][key[0]] += 1
    return out


@dataclass(frozen=True)
class LinkageScores:
    """Accuracy of one prediction.

    Attributes:
        precision, recall, f1: over cross-body record pairs.
        true_pairs, predicted_pairs, correct_pairs: the pair counts behind them.
        exact_match_rate: share of people (with any record) whose records form exactly
            one predicted group, with nothing else in it.
        twins_merged: twin pairs with at least one cross-body pair linked together.
        twin_pairs: twin pairs considered.
        subgroup_recall: pair recall restricted to people of each subgroup (None where
            the subgroup has no true pairs).
    """

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    exact_match_rate: float
    twins_merged: int = 0
    twin_pairs: int = 0
    subgroup_recall: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Plain dict for JSON reports."""
        return asdict(self)


def score(
    predicted: Mapping[RecordKey, Hashable],
    truth: Mapping[RecordKey, str],
    *,
    subgroups: Mapping[str, set[str]] | None = None,
    twin_pairs: Sequence[tuple[str, str]] = (),
) -> LinkageScores:
    """Score ``predicted`` groups against ``truth`` (see :class:`LinkageScores`).

    Records of ``truth`` missing from ``predicted`` count as singletons; records only in
    ``predicted`` are ignored.
    """
    keys = list(truth)
    pred = {k: predicted.get(k, ("__singleton__", k)) for k in keys}
    true_pairs = _cross_body_pairs(_group(keys, truth).values())
    pred_pairs = _cross_body_pairs(_group(keys, pred).values())
    joint = {k: (pred[k], truth[k]) for k in keys}
    correct = _cross_body_pairs(_group(keys, joint).values())
    precision = correct / pred_pairs if pred_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    members_true: dict[str, set[RecordKey]] = defaultdict(set)
    members_pred: dict[Hashable, set[RecordKey]] = defaultdict(set)
    for k in keys:
        members_true[truth[k]].add(k)
        members_pred[pred[k]].add(k)
    exact = sum(1 for recs in members_true.values() if members_pred[pred[next(iter(recs))]] == recs)
    exact_rate = exact / len(members_true) if members_true else 1.0

    merged = 0
    for a, b in twin_pairs:
        tokens_a = {(pred[k], k[0]) for k in members_true.get(a, ())}
        if any(
            pred[k] == tok and k[0] != body
            for k in members_true.get(b, ())
            for tok, body in tokens_a
        ):
            merged += 1

    sub_recall: dict[str, float | None] = {}
    for name, people in (subgroups or {}).items():
        sub_keys = [k for k in keys if truth[k] in people]
        t = _cross_body_pairs(_group(sub_keys, truth).values())
        c = _cross_body_pairs(_group(sub_keys, joint).values())
        sub_recall[name] = c / t if t else None
    return LinkageScores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_pairs=true_pairs,
        predicted_pairs=pred_pairs,
        correct_pairs=correct,
        exact_match_rate=exact_rate,
        twins_merged=merged,
        twin_pairs=len(twin_pairs),
        subgroup_recall=sub_recall,
    )


def threshold_curve(
    predict: Callable[[float], Mapping[RecordKey, Hashable]],
    truth: Mapping[RecordKey, str],
    thresholds: Sequence[float],
    **score_kwargs,
) -> list[dict]:
    """Score ``predict(t)`` for each threshold ``t``.

    Returns one dict per threshold: ``{"threshold": t, **LinkageScores.as_dict()}``, in
    the order given.
    """
    return [
        {"threshold": t, **score(predict(t), truth, **score_kwargs).as_dict()} for t in thresholds
    ]


def best_by_f1(curve: Sequence[Mapping]) -> Mapping:
    """The curve point with the highest F1 (first one on ties)."""
    return max(curve, key=lambda point: point["f1"])
