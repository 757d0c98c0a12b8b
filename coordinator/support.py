"""The support list: stage 1 (screening) of the municipal process, on the coordinator's machine.

``build_support_list(table, rules, today)`` applies a rule file to the decrypted signals of
the latest run's token table. Each listed token carries the rules that put it there, the
signals (with their bodies and refs) that made each rule true, and per body the refs to
ask about — the hand-over to stage 2, where people narrow it down: each body resolves its
refs with ``kakehashi resolve`` and its own keys file.

Shapes:
    table.tokens:  [(token, body, ref)] — every record of the latest run
    table.signals: [DecryptedSignal(token, body, ref, code, value)]
    SupportList.rows: one SupportRow per listed token, tokens in sorted order
    SupportList.counts: rule name -> number of tokens that rule lists (file order)
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from coordinator.rules import Child, Evidence, RuleError, RuleSet
from coordinator.signals import SignalTable

CSV_HEADERS = (
    "トークン",
    "該当した規則",
    "根拠となった信号",
    "照会先（機関: 参照番号）",
    "突合の確認",
)
HOUSEHOLD_HEADER = "世帯トークン"
"""Last column of the CSV when the list was made with households (family results)."""
REVIEW_NOTE = "要確認（双子など、結び付けが確かでない記録あり）"
"""Column headers of the support list CSV (for the coordinator's Excel)."""


class SupportListError(ValueError):
    """The rules cannot be applied to this token table (the message says why)."""


@dataclass(frozen=True)
class RuleMatch:
    """One rule that lists a token, and the signals that made it true."""

    rule: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class SupportRow:
    """One listed token.

    ``refs`` maps every body holding a record of the group to its refs (sorted): the
    records to ask each body about.
    """

    token: str
    matches: tuple[RuleMatch, ...]
    refs: dict[str, tuple[str, ...]]
    review: bool = False  # the engine flagged this group for a person's review (e.g. twins)
    household: str | None = None  # household token (children sharing a guardian)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(m.rule for m in self.matches)


@dataclass
class SupportList:
    """The list, its per-rule counts, and what it was made from (for the audit entry)."""

    rows: list[SupportRow]
    counts: dict[str, int]
    rules_sha256: str
    rules_path: str
    catalogue_version: int
    reference_date: date
    tokens_screened: int
    failures: list[tuple[str, str, str]]
    labels: dict[str, str] = field(default_factory=dict)
    rules_title: str = ""
    with_households: bool = False
    made_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def listed(self) -> int:
        return len(self.rows)

    def _signal_text(self, e: Evidence) -> str:
        value = "はい" if e.value is True else ("いいえ" if e.value is False else str(e.value))
        label = self.labels.get(e.code, e.code)
        return f"{label}={value} [{e.body} {e.ref}]"

    def write_csv(self, path: str | Path) -> Path:
        """One row per listed token; UTF-8 with BOM so that Excel opens it correctly."""
        path = Path(path)
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            extra = (HOUSEHOLD_HEADER,) if self.with_households else ()
            writer.writerow(CSV_HEADERS + extra)
            for row in self.rows:
                reasons = " / ".join(
                    f"{m.rule}: " + "、".join(self._signal_text(e) for e in m.evidence)
                    if m.evidence
                    else m.rule
                    for m in row.matches
                )
                refs = " / ".join(f"{body}: {' '.join(refs)}" for body, refs in row.refs.items())
                note = REVIEW_NOTE if row.review else ""
                house = (row.household or "",) if self.with_households else ()
                writer.writerow((row.token, " / ".join(row.rules), reasons, refs, note, *house))
        return path

    def write_counts_csv(self, path: str | Path) -> Path:
        """Counts per rule (UTF-8 with BOM)."""
        path = Path(path)
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(("規則", "該当数"))
            for name, count in self.counts.items():
                writer.writerow((name, count))
            writer.writerow(("（いずれかの規則に該当した子ども）", self.listed))
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "made_at": self.made_at,
            "rules_sha256": self.rules_sha256,
            "rules_file": self.rules_path,
            "rules_title": self.rules_title,
            "catalogue_version": self.catalogue_version,
            "reference_date": self.reference_date.isoformat(),
            "tokens_screened": self.tokens_screened,
            "listed": self.listed,
            "counts": self.counts,
            "undecryptable_records": [
                {"body": b, "ref": r, "reason": why} for b, r, why in self.failures
            ],
            "rows": [
                {
                    "token": row.token,
                    "rules": [
                        {
                            "rule": m.rule,
                            "signals": [
                                {
                                    "code": e.code,
                                    "label": self.labels.get(e.code, e.code),
                                    "value": e.value,
                                    "body": e.body,
                                    "ref": e.ref,
                                }
                                for e in m.evidence
                            ],
                        }
                        for m in row.matches
                    ],
                    "refs": {body: list(refs) for body, refs in row.refs.items()},
                    "review": row.review,
                    "household": row.household,
                }
                for row in self.rows
            ],
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    def audit_summary(self) -> dict[str, Any]:
        """The only facts about this list that leave the coordinator's machine."""
        return {
            "rules_sha256": self.rules_sha256,
            "catalogue_version": self.catalogue_version,
            "listed": self.listed,
        }


def children_of(
    table: SignalTable,
    households: Mapping[str, str] | None = None,
    guardian_bodies: Mapping[str, Iterable[str]] | None = None,
) -> list[Child]:
    """Group the token table and the signals by token, in sorted token order.

    With ``households`` (child token → household token, ``ApiClient.family_results``),
    each child carries its household token and its siblings (the other children of the
    household, without siblings of their own); with ``guardian_bodies`` (household token
    → bodies holding a guardian record of it), the bodies of its household.
    """
    by_household = {h: frozenset(b) for h, b in (guardian_bodies or {}).items()}
    bodies: dict[str, set[str]] = defaultdict(set)
    for token, body, _ref in table.tokens:
        bodies[token].add(body)
    signals: dict[str, dict[str, list[Evidence]]] = defaultdict(lambda: defaultdict(list))
    for s in table.signals:
        signals[s.token][s.code].append(Evidence(s.body, s.ref, s.code, s.value))
    children = [
        Child(
            token,
            frozenset(bodies[token]),
            {code: tuple(found) for code, found in signals.get(token, {}).items()},
            household=(households or {}).get(token),
            guardian_bodies=by_household.get((households or {}).get(token) or "", frozenset()),
        )
        for token in sorted(bodies)
    ]
    if not households:
        return children
    members: dict[str, list[Child]] = defaultdict(list)
    for child in children:
        if child.household is not None:
            members[child.household].append(child)
    return [
        replace(
            child,
            siblings=tuple(s for s in members.get(child.household or "", ()) if s is not child),
        )
        for child in children
    ]


def build_support_list(
    table: SignalTable,
    rules: RuleSet,
    today: date,
    *,
    review: Iterable[str] = (),
    households: Mapping[str, str] | None = None,
    guardian_bodies: Mapping[str, Iterable[str]] | None = None,
) -> SupportList:
    """Apply ``rules`` to every token of ``table``; return the tokens some rule lists.

    ``review``: tokens the engine flagged for a person's review (``kakehashi results
    --review``); listed rows of those tokens carry ``review=True``, because their group
    (and so which signals it holds) is uncertain.

    ``households``: child token → household token (``ApiClient.family_results``); needed
    by household conditions (``sibling``, ``has_sibling``, ``guardian_in``); listed rows
    show the token. ``guardian_bodies``: household token → bodies holding a record of a
    guardian of it (``family_results()["guardian_bodies"]``), for ``guardian_in``.

    Raises:
        RuleError: a rule uses a code the table's catalogue does not have (or misuses one).
        SupportListError: a rule names a body that has no record in the token table (an
            absence condition would then hold for everyone), or a signal names a token
            that is not in the table.
    """
    rules.check_catalogue(table.catalogue)
    if rules.uses_households() and not households:
        raise SupportListError(
            f"{rules.path}: the rules have household conditions (sibling / has_sibling / "
            "guardian_in) but "
            "the server returned no households: no body has uploaded a family file "
            "(`kakehashi encode --family`), or no run has finished since"
        )
    known_guardian = set().union(*(set(b) for b in (guardian_bodies or {}).values()))
    unknown = sorted(rules.guardian_bodies() - known_guardian)
    if unknown:
        raise SupportListError(
            f"{rules.path}: guardian_in names {', '.join(unknown)} but no household has a "
            f"guardian record from {'it' if len(unknown) == 1 else 'them'} (bodies with "
            f"guardian records: {', '.join(sorted(known_guardian)) or 'none'}); has the "
            'body uploaded its family file (subject = "guardian") and a run finished since?'
        )
    present = {body for _, body, _ in table.tokens}
    missing = sorted(rules.bodies() - present)
    if missing and table.tokens:
        raise SupportListError(
            f"{rules.path}: the rules name bod{'y' if len(missing) == 1 else 'ies'} "
            f"{', '.join(missing)} but the token table has no record from "
            f"{'it' if len(missing) == 1 else 'them'} (bodies present: "
            f"{', '.join(sorted(present))}); an absence would hold for every child"
        )
    known = {token for token, _, _ in table.tokens}
    strays = {s.token for s in table.signals} - known
    if strays:
        raise SupportListError(
            f"{len(strays)} signal(s) name tokens that are not in the token table; "
            "download the table and the signals of the same run"
        )
    reference = rules.reference_date or today
    refs: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for token, body, ref in table.tokens:
        refs[token][body].append(ref)
    counts = {rule.name: 0 for rule in rules.rules}
    flagged = set(review)
    rows: list[SupportRow] = []
    children = children_of(table, households, guardian_bodies)
    for child in children:
        matches = []
        for rule in rules.rules:
            outcome = rule.evaluate(child, reference)
            if outcome.holds:
                counts[rule.name] += 1
                evidence = sorted(outcome.evidence, key=lambda e: (e.body, e.code, e.ref))
                matches.append(RuleMatch(rule.name, tuple(evidence)))
        if matches:
            per_body = {b: tuple(sorted(r)) for b, r in sorted(refs[child.token].items())}
            rows.append(
                SupportRow(
                    child.token,
                    tuple(matches),
                    per_body,
                    child.token in flagged,
                    household=child.household,
                )
            )
    labels = {s.code: s.label for s in table.catalogue.signals}
    return SupportList(
        rows=rows,
        counts=counts,
        rules_sha256=rules.sha256,
        rules_path=rules.path,
        catalogue_version=int(table.catalogue.version),
        reference_date=reference,
        tokens_screened=len(children),
        failures=list(table.failures),
        labels=labels,
        rules_title=rules.title,
        with_households=bool(households),
    )


__all__ = [
    "RuleError",
    "RuleMatch",
    "SupportList",
    "SupportListError",
    "SupportRow",
    "build_support_list",
    "children_of",
]
