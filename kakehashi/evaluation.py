"""Join a coordinator's token table with the bodies' keys files and the generator's truth.

Only the demo and the tests do this: in real use nobody holds all keys files together.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any


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


# -- the support list against the planted children -------------------------------------------
RecordKey = tuple[str, str]  # (body, record id)


@dataclass(frozen=True)
class SupportScore:
    """How a support list did against the generator's planted children.

    Attributes:
        planted: planted children (person ids) per rule.
        found: planted children listed under their rule.
        missed: ``(person id, rule, why)`` of planted children not listed.
        connected: planted children whose records linkage put in one group, alone.
        listed: tokens on the list.
        unplanted: listed tokens with no planted reason (no rule of theirs explained by
            a planted child of the group).
        unplanted_background: of those, groups holding a child who meets the rule with
            perfect linkage (background rates: real cases the rules are meant to find).
        unplanted_linkage: the rest: listed only because of linkage errors.
    """

    planted: dict[str, set[str]]
    found: set[str]
    missed: list[tuple[str, str, str]]
    connected: set[str]
    listed: int
    unplanted: int
    unplanted_background: int
    unplanted_linkage: int

    @property
    def n_planted(self) -> int:
        return sum(len(v) for v in self.planted.values())


def truth_table(
    groups: Mapping[RecordKey, Hashable],
    person_of: Mapping[RecordKey, str],
    values: Mapping[tuple[str, str], Mapping[str, bool | str]],
    catalogue: Any,
) -> Any:
    """A signal table as the coordinator would decrypt it, for any grouping of records.

    ``groups`` maps each record to its group (a linkage's token, the status quo's key, a
    person id for perfect linkage); each record's signals are its true values.
    """
    from coordinator.signals import DecryptedSignal, SignalTable

    tokens: list[tuple[str, str, str]] = []
    signals = []
    for (body, rid), group in groups.items():
        token = str(group)
        tokens.append((token, body, rid))
        for code, value in values.get((body, person_of[(body, rid)]), {}).items():
            signals.append(DecryptedSignal(token, body, rid, code, value))
    return SignalTable(catalogue, tokens, signals, [])


def listed_rules(support_list: Any) -> dict[str, set[str]]:
    """token -> names of the rules that list it."""
    return {row.token: set(row.rules) for row in support_list.rows}


def score_support(
    listed: Mapping[str, set[str]],
    groups: Mapping[RecordKey, str],
    person_of: Mapping[RecordKey, str],
    planted: Sequence[Any],
    ideal: Mapping[str, set[str]],
) -> SupportScore:
    """Score a support list.

    Args:
        listed: token -> rules, the list made (from the linkage's groups).
        groups: (body, record id) -> token, for every encoded record.
        person_of: (body, record id) -> person id (the truth), for every record exported.
        planted: ``synthetic.signals.PlantedChild`` entries.
        ideal: person id -> rules, the list perfect linkage would give (same rules).
    """
    members: dict[str, set[RecordKey]] = defaultdict(set)
    for record, token in groups.items():
        members[token].add(record)
    records_of: dict[str, set[RecordKey]] = defaultdict(set)
    for record, pid in person_of.items():
        records_of[pid].add(record)
    by_rule: dict[str, set[str]] = defaultdict(set)
    for child in planted:
        by_rule[child.rule].add(child.person_id)

    def persons(token: str) -> set[str]:
        return {person_of[r] for r in members[token]}

    found: set[str] = set()
    missed: list[tuple[str, str, str]] = []
    connected: set[str] = set()
    for child in sorted(planted, key=lambda c: c.person_id):
        pid = child.person_id
        mine = records_of[pid]
        encoded = {r for r in mine if r in groups}
        tokens = {groups[r] for r in encoded}
        alone = len(tokens) == 1 and members[next(iter(tokens))] == encoded
        if alone and encoded == mine:
            connected.add(pid)
        if any(child.rule in listed.get(t, set()) for t in tokens):
            found.add(pid)
            continue
        if encoded != mine:
            lost = sorted(b for b, _ in mine - encoded)
            why = f"record(s) rejected by the encoder at {', '.join(lost)}"
        elif len(tokens) > 1:
            parts = sorted(
                "+".join(sorted(b for b, _ in encoded if groups[(b, _)] == t)) for t in tokens
            )
            why = f"records not linked: split into {len(tokens)} groups ({' | '.join(parts)})"
        elif not alone:
            others = sorted(persons(next(iter(tokens))) - {pid})
            why = f"linked with another child's record ({', '.join(others)})"
        else:
            why = "linked correctly but not listed"
        missed.append((pid, child.rule, why))
    unplanted = background = 0
    for token, rules in listed.items():
        people = persons(token)
        if any(people & by_rule.get(rule, set()) for rule in rules):
            continue
        unplanted += 1
        if any(rules & ideal.get(p, set()) for p in people):
            background += 1
    return SupportScore(
        planted=dict(by_rule),
        found=found,
        missed=missed,
        connected=connected,
        listed=len(listed),
        unplanted=unplanted,
        unplanted_background=background,
        unplanted_linkage=unplanted - background,
    )


def rule_bodies(rule: Any, catalogue: Any) -> set[str]:
    """Bodies whose data a rule needs: bodies named in presence conditions and the bodies
    that send the signals it uses."""
    senders = {s.code: s.body for s in catalogue.signals}
    return set(rule.condition.bodies()) | {senders[c] for c in rule.condition.codes()}


def department_alone(
    person_of: Mapping[RecordKey, str],
    values: Mapping[tuple[str, str], Mapping[str, bool | str]],
    rules: Any,
    catalogue: Any,
    today: date,
) -> dict[str, set[str]]:
    """The status quo without linkage: each department applies, to its own records only,
    the rules it can apply with its own data alone (those needing no other body's data).

    Returns person id -> rules listing one of their records.
    """
    from dataclasses import replace

    from coordinator.support import build_support_list

    out: dict[str, set[str]] = defaultdict(set)
    bodies = sorted({b for b, _ in person_of})
    for body in bodies:
        usable = tuple(r for r in rules.rules if rule_bodies(r, catalogue) <= {body})
        if not usable:
            continue
        own = {k: f"{k[0]}:{k[1]}" for k in person_of if k[0] == body}
        table = truth_table(own, person_of, values, catalogue)
        made = build_support_list(table, replace(rules, rules=usable), today)
        record_of = {token: record for record, token in own.items()}
        for row in made.rows:
            out[person_of[record_of[row.token]]] |= set(row.rules)
    return dict(out)


def support_comparison(
    town: Any,
    records: Mapping[str, list[dict[str, str]]],
    groups: Mapping[RecordKey, str],
    rules: Any,
    catalogue: Any,
    today: date,
    listed: Mapping[str, set[str]] | None = None,
) -> dict[str, Any]:
    """The support list over Kakehashi's groups against the planted children and the two
    status quos (each department alone; exact kanji name + birth date linkage).

    Args:
        town: a ``synthetic.Municipality`` generated with signals.
        records: canonical records per body, as the department reader reads the exports.
        groups: (body, record id) -> token of Kakehashi's linkage (encoded records only).
        listed: the list the coordinator made (token -> rules); default: made here from
            ``groups`` and the true signal values, as decryption would give them.
    """
    from coordinator.support import build_support_list
    from synthetic.status_quo import status_quo

    truth = town.signals
    person_of = dict(town.truth)
    values = truth.values

    def make(grouping: Mapping[RecordKey, Hashable]) -> dict[str, set[str]]:
        table = truth_table(grouping, person_of, values, catalogue)
        return listed_rules(build_support_list(table, rules, today))

    ideal = make(person_of)
    if listed is None:
        listed = make(groups)
    linkage = score_support(listed, groups, person_of, truth.planted, ideal)
    alone = department_alone(person_of, values, rules, catalogue, today)
    alone_found = {c.person_id for c in truth.planted if c.rule in alone.get(c.person_id, ())}
    exact_groups = {k: str(v) for k, v in status_quo(dict(records)).items()}
    exact = score_support(make(exact_groups), exact_groups, person_of, truth.planted, ideal)
    return {
        "linkage": linkage,
        "alone_found": len(alone_found),
        "alone_listed": len(alone),
        "exact": exact,
        "ideal": len(ideal),
    }
