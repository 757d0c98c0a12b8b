"""Support rules: a TOML file an ethics committee can read and sign off.

A rule file names rules over the project's signals (by catalogue code) and over the
presence or absence of a child's record in a body. There are no weights and no scores: a
rule is true or false for a child, and every listed child carries the rules and the
signals that made them true.

    [rules]
    title = "2026年度 支援候補の抽出規則"
    birth_yearmonth = "birth_ym"       # the 住民記録 signal that age bands use
    reference_date = "2026-04-01"      # optional; default: the day the list is made

    [[rule]]
    name = "未就園で健診未受診"
    description = "3〜5歳で、保育の記録がなく、乳幼児健診を受けていない子ども"
    purpose = "保育・保健のどちらにも見えていない子どもを早く知るため"
    all = [
      { age_from = 3, age_to = 5 },
      { present_in = "jumin" },
      { absent_from = "hoiku" },
      { signal = "kenshin_mijushin" },
    ]

Conditions (each an inline table):

* ``{ signal = "CODE" }`` — a flag signal is set; for other value types: the signal is there.
* ``{ signal = "CODE", in = ["A", "B"] }`` — a category signal is one of the values.
* ``{ signal = "CODE", min = 30 }`` / ``max = 60`` — a count signal within bounds (inclusive).
* ``{ signal = "CODE", from = "2025-04", until = "2026-03" }`` — a date or year-month signal
  within the period (inclusive; either end may be left out).
* ``{ present_in = "BODY" }`` / ``{ absent_from = "BODY" }`` — the child has / has no record
  in that body.
* ``{ age_from = 3, age_to = 5 }`` — age in completed years on the reference date, from the
  birth year-month (the birthday is taken as the first of the birth month: a child turns
  ``n`` in its birth month). Either bound may be left out.
* ``{ all = [...] }``, ``{ any = [...] }``, ``{ at_least = 2, of = [...] }``,
  ``{ not = {...} }`` — combinators, nested freely.
* ``{ sibling = {...} }`` — household condition: another child of the same household
  (children who share a guardian, from the server's family results) meets the inner
  condition, e.g. ``{ sibling = { present_in = "yotaikyo" } }`` or
  ``{ sibling = { signal = "chouki_kesseki" } }``. The evidence is the sibling's signals.
  ``{ has_sibling = true }`` — the child's household holds another child.
  ``{ guardian_in = "BODY" }`` — a guardian of the child's household has a record in a
  body whose records are about guardians, e.g. ``{ guardian_in = "fukushi" }`` (a
  児童扶養手当 payee) or a 妊娠届 at 母子保健. No evidence: the body is told nothing
  but the household. Household conditions cannot be nested in one another.

``[rules]`` may also hold ``description``, ``version``, ``approved_by``, ``approved_on`` and
``approval_ref`` (e.g. the ethics committee's approval number); other keys are refused.

A rule holds exactly one top-level condition: one of ``all``, ``any``, ``at_least``+``of``,
``not`` or a single condition's keys, beside ``name``, ``description`` and ``purpose``.

Errors name the file, the line and the rule (:class:`RuleError`); ``tomllib`` gives no line
numbers for tables, so the ``[[rule]]`` headers are found in the source text.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from linkage.signals import Catalogue

_YEARMONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_TOP_KEYS = {"name", "description", "purpose"}
_META_KEYS = {
    "title",
    "description",
    "version",
    "approved_by",
    "approved_on",
    "approval_ref",
    "birth_yearmonth",
    "reference_date",
}
_COMBINATORS = ("all", "any", "at_least", "not")
_SIGNAL_OPTIONS = {"signal", "in", "min", "max", "from", "until"}


class RuleError(ValueError):
    """A rule file that cannot be used; the message names file, line and rule."""

    def __init__(self, path: str, line: int | None, rule: str | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        who = f" rule {rule!r}:" if rule else ""
        super().__init__(f"{where}:{who} {message}")
        self.path = path
        self.line = line
        self.rule = rule
        self.reason = message


# -- what a rule is evaluated on -----------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """One signal of a child's group that made a condition true."""

    body: str
    ref: str
    code: str
    value: bool | str | int


@dataclass(frozen=True)
class Child:
    """Everything the rules may look at for one token (one linked group of records).

    ``signals`` maps a code to the signals of that code in the group (usually one);
    ``bodies`` is the set of bodies holding a record of the group. ``household`` is the
    child's household token and ``siblings`` the other children of that household
    (themselves without siblings), when the server's family results were given;
    ``guardian_bodies`` the bodies holding a guardian record of that household.
    """

    token: str
    bodies: frozenset[str]
    signals: Mapping[str, tuple[Evidence, ...]]
    household: str | None = None
    siblings: tuple[Child, ...] = ()
    guardian_bodies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """A condition's truth and the signals that made it true (none for absences)."""

    holds: bool
    evidence: frozenset[Evidence] = frozenset()


_FALSE = Outcome(False)


# -- conditions ----------------------------------------------------------------------------
class Condition:
    """A condition over one child; ``evaluate`` gives its truth and evidence."""

    def evaluate(self, child: Child, reference: date) -> Outcome:  # pragma: no cover
        raise NotImplementedError

    def codes(self) -> set[str]:
        return set()

    def bodies(self) -> set[str]:
        return set()

    def describe(self) -> str:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class SignalIs(Condition):
    """A signal of ``code`` is set (flag) / there (others), optionally within bounds."""

    code: str
    categories: frozenset[str] | None = None
    minimum: int | None = None
    maximum: int | None = None
    start: str | None = None
    end: str | None = None

    def _matches(self, value: bool | str | int) -> bool:
        if isinstance(value, bool):
            return value
        if self.categories is not None and value not in self.categories:
            return False
        if isinstance(value, int):
            if self.minimum is not None and value < self.minimum:
                return False
            if self.maximum is not None and value > self.maximum:
                return False
        if isinstance(value, str) and (self.start is not None or self.end is not None):
            size = len(self.start or self.end or "")
            if self.start is not None and value[:size] < self.start:
                return False
            if self.end is not None and value[:size] > self.end:
                return False
        return True

    def evaluate(self, child: Child, reference: date) -> Outcome:
        hits = frozenset(e for e in child.signals.get(self.code, ()) if self._matches(e.value))
        return Outcome(bool(hits), hits)

    def codes(self) -> set[str]:
        return {self.code}

    def describe(self) -> str:
        parts = [self.code]
        if self.categories is not None:
            parts.append("∈ {" + ", ".join(sorted(self.categories)) + "}")
        if self.minimum is not None:
            parts.append(f"≥ {self.minimum}")
        if self.maximum is not None:
            parts.append(f"≤ {self.maximum}")
        if self.start is not None or self.end is not None:
            parts.append(f"{self.start or ''}〜{self.end or ''}")
        return " ".join(parts)


@dataclass(frozen=True)
class InBody(Condition):
    """The child has a record in ``body`` (``present``) or has none (not ``present``)."""

    body: str
    present: bool

    def evaluate(self, child: Child, reference: date) -> Outcome:
        return Outcome((self.body in child.bodies) == self.present)

    def bodies(self) -> set[str]:
        return {self.body}

    def describe(self) -> str:
        return f"{self.body} に記録あり" if self.present else f"{self.body} に記録なし"


def age_on(birth: str, reference: date) -> int:
    """Age in completed years on ``reference`` of a child born in ``birth`` ("YYYY-MM" or
    "YYYY-MM-DD"; only the year and month are used): the child turns n on the first day
    of its birth month."""
    year, month = int(birth[:4]), int(birth[5:7])
    return reference.year - year - (1 if reference.month < month else 0)


@dataclass(frozen=True)
class AgeBand(Condition):
    """Age in completed years on the reference date within [low, high] (inclusive)."""

    birth_code: str
    low: int | None
    high: int | None

    def evaluate(self, child: Child, reference: date) -> Outcome:
        hits = set()
        for e in child.signals.get(self.birth_code, ()):
            if not isinstance(e.value, str):
                continue
            age = age_on(e.value, reference)
            if (self.low is None or age >= self.low) and (self.high is None or age <= self.high):
                hits.add(e)
        return Outcome(bool(hits), frozenset(hits))

    def codes(self) -> set[str]:
        return {self.birth_code}

    def describe(self) -> str:
        low = "" if self.low is None else f"{self.low}"
        high = "" if self.high is None else f"{self.high}"
        return f"年齢 {low}〜{high} 歳"


@dataclass(frozen=True)
class AllOf(Condition):
    parts: tuple[Condition, ...]

    def evaluate(self, child: Child, reference: date) -> Outcome:
        evidence: set[Evidence] = set()
        for part in self.parts:
            result = part.evaluate(child, reference)
            if not result.holds:
                return _FALSE
            evidence |= result.evidence
        return Outcome(True, frozenset(evidence))

    def codes(self) -> set[str]:
        return set().union(*(p.codes() for p in self.parts))

    def bodies(self) -> set[str]:
        return set().union(*(p.bodies() for p in self.parts))

    def describe(self) -> str:
        return "すべて(" + "; ".join(p.describe() for p in self.parts) + ")"


@dataclass(frozen=True)
class AtLeast(Condition):
    """At least ``n`` of ``parts`` hold. ``any`` is ``AtLeast(1, ...)``."""

    n: int
    parts: tuple[Condition, ...]

    def evaluate(self, child: Child, reference: date) -> Outcome:
        results = [p.evaluate(child, reference) for p in self.parts]
        true = [r for r in results if r.holds]
        if len(true) < self.n:
            return _FALSE
        return Outcome(True, frozenset().union(*(r.evidence for r in true)))

    def codes(self) -> set[str]:
        return set().union(*(p.codes() for p in self.parts))

    def bodies(self) -> set[str]:
        return set().union(*(p.bodies() for p in self.parts))

    def describe(self) -> str:
        inner = "; ".join(p.describe() for p in self.parts)
        return f"いずれか({inner})" if self.n == 1 else f"{self.n}つ以上({inner})"


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def evaluate(self, child: Child, reference: date) -> Outcome:
        return Outcome(not self.part.evaluate(child, reference).holds)

    def codes(self) -> set[str]:
        return self.part.codes()

    def bodies(self) -> set[str]:
        return self.part.bodies()

    def describe(self) -> str:
        return f"ではない({self.part.describe()})"


@dataclass(frozen=True)
class Sibling(Condition):
    """Another child of the same household meets ``part`` (evidence: the sibling's)."""

    part: Condition

    def evaluate(self, child: Child, reference: date) -> Outcome:
        evidence: set[Evidence] = set()
        holds = False
        for sibling in child.siblings:
            result = self.part.evaluate(sibling, reference)
            if result.holds:
                holds = True
                evidence |= result.evidence
        return Outcome(holds, frozenset(evidence))

    def codes(self) -> set[str]:
        return self.part.codes()

    def bodies(self) -> set[str]:
        return self.part.bodies()

    def describe(self) -> str:
        return f"きょうだい({self.part.describe()})"


@dataclass(frozen=True)
class HasSibling(Condition):
    """The child's household holds another child (``present``) or none."""

    present: bool = True

    def evaluate(self, child: Child, reference: date) -> Outcome:
        return Outcome(bool(child.siblings) == self.present)

    def describe(self) -> str:
        return "きょうだいあり" if self.present else "きょうだいなし"


@dataclass(frozen=True)
class GuardianIn(Condition):
    """A guardian of the child's household has a record in ``body`` (a body whose records
    are about guardians: payees, 妊娠届). No evidence (no signal of the guardian's)."""

    body: str

    def evaluate(self, child: Child, reference: date) -> Outcome:
        return Outcome(self.body in child.guardian_bodies)

    def guardian_bodies(self) -> set[str]:
        return {self.body}

    def describe(self) -> str:
        return f"世帯の保護者が {self.body} に記録あり"


def uses_households(condition: Condition) -> bool:
    """Whether a condition needs the household data (``sibling`` / ``has_sibling`` /
    ``guardian_in``)."""
    return any(isinstance(c, Sibling | HasSibling | GuardianIn) for c in _walk(condition))


def guardian_bodies(condition: Condition) -> set[str]:
    """The bodies named by ``guardian_in`` conditions."""
    return {c.body for c in _walk(condition) if isinstance(c, GuardianIn)}


# -- rules and rule sets -------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A named rule: the Japanese description and purpose are what a committee signs off."""

    name: str
    description: str
    purpose: str
    condition: Condition
    line: int

    def evaluate(self, child: Child, reference: date) -> Outcome:
        return self.condition.evaluate(child, reference)


@dataclass(frozen=True)
class RuleSet:
    """A parsed rule file.

    Attributes:
        rules: in file order (names unique).
        sha256: hex SHA-256 of the file's bytes (recorded in the audit log).
        path: where it was read from.
        title: the file's ``[rules] title``.
        birth_code: the catalogue code age bands use (None if no rule uses age).
        reference_date: fixed reference date, or None for "the day the list is made".
    """

    rules: tuple[Rule, ...]
    sha256: str
    path: str = "<rules>"
    title: str = ""
    birth_code: str | None = None
    reference_date: date | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    text: str = field(default="", repr=False)

    def codes(self) -> set[str]:
        return set().union(*(r.condition.codes() for r in self.rules))

    def bodies(self) -> set[str]:
        return set().union(*(r.condition.bodies() for r in self.rules))

    def uses_households(self) -> bool:
        """Whether some rule has a household condition (needs the family results)."""
        return any(uses_households(r.condition) for r in self.rules)

    def guardian_bodies(self) -> set[str]:
        """The bodies ``guardian_in`` conditions name (not in :meth:`bodies`: such a body
        may hold no child's record)."""
        return set().union(*(guardian_bodies(r.condition) for r in self.rules))

    def check_catalogue(self, catalogue: Catalogue) -> None:
        """Raise :class:`RuleError` unless every code is in ``catalogue`` with a fitting type."""
        check_against_catalogue(self, catalogue)


# -- parsing -------------------------------------------------------------------------------
class _Source:
    """The rule file's text, to find the line of a rule and of a value inside it."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers = [i + 1 for i, line in enumerate(self.lines) if _RULE_HEADER.match(line)]

    def meta_line(self, key: str) -> int | None:
        """The line of ``key = ...`` before the first ``[[rule]]`` (the [rules] table)."""
        end = self.headers[0] - 1 if self.headers else len(self.lines)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(1, end + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def rule_span(self, index: int) -> tuple[int, int]:
        if index >= len(self.headers):
            return (0, 0)
        start = self.headers[index]
        end = self.headers[index + 1] - 1 if index + 1 < len(self.headers) else len(self.lines)
        return (start, end)

    def find(self, index: int, needle: str) -> int | None:
        """First line of rule ``index`` holding ``needle`` (else the rule's header line)."""
        start, end = self.rule_span(index)
        if not start:
            return None
        for number in range(start, end + 1):
            line = self.lines[number - 1].split("#", 1)[0]
            if needle in line:
                return number
        return start


class _Parser:
    def __init__(self, source: _Source, index: int, name: str | None, birth: str | None):
        self.source = source
        self.index = index
        self.name = name
        self.birth = birth

    def error(self, message: str, needle: str | None = None) -> RuleError:
        line = self.source.find(self.index, needle) if needle else None
        if line is None:
            line = self.source.rule_span(self.index)[0] or None
        return RuleError(self.source.path, line, self.name, message)

    def condition(self, node: Any, where: str) -> Condition:
        if not isinstance(node, dict):
            raise self.error(f"{where}: a condition is an inline table {{ ... }}, not {node!r}")
        keys = set(node)
        combinators = [k for k in _COMBINATORS if k in keys]
        if combinators:
            return self._combinator(node, combinators, where)
        if "signal" in keys:
            return self._signal(node, where)
        if keys & {"present_in", "absent_from"}:
            if len(keys) != 1:
                raise self.error(
                    f"{where}: present_in / absent_from stand alone in their condition, "
                    f"found keys {sorted(keys)}",
                    next(iter(keys & {"present_in", "absent_from"})),
                )
            (key,) = keys
            body = node[key]
            if not isinstance(body, str) or not body:
                raise self.error(f"{where}: {key} must name a body", key)
            return InBody(body, key == "present_in")
        if keys & {"age_from", "age_to"}:
            return self._age(node, where)
        if keys & {"sibling", "has_sibling", "guardian_in"}:
            return self._household(node, where)
        known = ", ".join(
            (
                *_COMBINATORS, "signal", "present_in", "absent_from", "age_from", "sibling",
                "has_sibling", "guardian_in",
            )
        )  # fmt: skip
        raise self.error(
            f"{where}: unknown condition with keys {sorted(keys)} (expected one of: {known})",
            next(iter(keys), None),
        )

    def _household(self, node: dict[str, Any], where: str) -> Condition:
        (key, *extra) = sorted(node)
        if extra:
            raise self.error(
                f"{where}: {key} stands alone in its condition, found keys {sorted(node)}", key
            )
        if key == "has_sibling":
            if not isinstance(node[key], bool):
                raise self.error(f"{where}: has_sibling = true or false", key)
            return HasSibling(node[key])
        if key == "guardian_in":
            body = node[key]
            if not isinstance(body, str) or not body:
                raise self.error(f"{where}: guardian_in must name a body", key)
            return GuardianIn(body)
        inner = self.condition(node[key], f"{where}.sibling")
        if uses_households(inner):
            raise self.error(
                f"{where}: household conditions cannot be nested (a sibling's sibling or guardian)",
                key,
            )
        return Sibling(inner)

    def _list(self, node: Any, key: str, where: str) -> tuple[Condition, ...]:
        if not isinstance(node, list) or not node:
            raise self.error(f"{where}: {key} needs a non-empty list of conditions", key)
        return tuple(self.condition(x, f"{where}.{key}[{i}]") for i, x in enumerate(node))

    def _combinator(self, node: dict[str, Any], found: list[str], where: str) -> Condition:
        key = found[0]
        allowed = {"at_least", "of"} if key == "at_least" else {key}
        if len(found) > 1 or set(node) - allowed:
            extra = sorted(set(node) - allowed) or found[1:]
            raise self.error(
                f"{where}: {key} cannot be combined with {extra} in the same table; "
                "nest them instead",
                key,
            )
        if key == "all":
            return AllOf(self._list(node[key], key, where))
        if key == "any":
            return AtLeast(1, self._list(node[key], key, where))
        if key == "not":
            return Not(self.condition(node[key], f"{where}.not"))
        n = node["at_least"]
        if "of" not in node:
            raise self.error(f"{where}: at_least = N needs of = [ ... ]", "at_least")
        parts = self._list(node["of"], "of", where)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(parts):
            raise self.error(
                f"{where}: at_least must be a whole number from 1 to {len(parts)} "
                f"(the number of conditions in of), not {n!r}",
                "at_least",
            )
        return AtLeast(n, parts)

    def _signal(self, node: dict[str, Any], where: str) -> Condition:
        extra = set(node) - _SIGNAL_OPTIONS
        if extra:
            raise self.error(
                f"{where}: unknown key(s) {sorted(extra)} in a signal condition "
                f"(allowed: {sorted(_SIGNAL_OPTIONS)})",
                next(iter(extra)),
            )
        code = node["signal"]
        if not isinstance(code, str) or not code:
            raise self.error(f"{where}: signal must be a catalogue code (text)", "signal")
        categories = None
        if "in" in node:
            values = node["in"]
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) for v in values)
            ):
                raise self.error(f"{where}: in must be a non-empty list of category names", code)
            categories = frozenset(values)
        bounds: dict[str, int | None] = {"min": None, "max": None}
        for key in bounds:
            if key in node:
                value = node[key]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise self.error(f"{where}: {key} must be a whole number ≥ 0", code)
                bounds[key] = value
        if None not in bounds.values() and bounds["min"] > bounds["max"]:  # type: ignore[operator]
            raise self.error(f"{where}: min {bounds['min']} is above max {bounds['max']}", code)
        period: dict[str, str | None] = {"from": None, "until": None}
        for key in period:
            if key in node:
                value = node[key]
                if isinstance(value, date):
                    value = value.isoformat()
                if not isinstance(value, str) or not (
                    _YEARMONTH.match(value) or _DATE.match(value)
                ):
                    raise self.error(
                        f'{where}: {key} must be a year-month "YYYY-MM" or a date '
                        f'"YYYY-MM-DD", not {node[key]!r}',
                        code,
                    )
                period[key] = value
        if period["from"] and period["until"]:
            if len(period["from"]) != len(period["until"]):
                raise self.error(f"{where}: from and until must use the same form", code)
            if period["from"] > period["until"]:
                raise self.error(f"{where}: from {period['from']} is after until", code)
        return SignalIs(
            code, categories, bounds["min"], bounds["max"], period["from"], period["until"]
        )

    def _age(self, node: dict[str, Any], where: str) -> Condition:
        extra = set(node) - {"age_from", "age_to"}
        if extra:
            raise self.error(f"{where}: unknown key(s) {sorted(extra)} in an age band", "age_")
        values: dict[str, int | None] = {}
        for key in ("age_from", "age_to"):
            value = node.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 130
            ):
                raise self.error(f"{where}: {key} must be a whole number of years", key)
            values[key] = value
        low, high = values["age_from"], values["age_to"]
        if low is not None and high is not None and low > high:
            raise self.error(f"{where}: age_from {low} is above age_to {high}", "age_from")
        if self.birth is None:
            raise self.error(
                f'{where}: an age band needs [rules] birth_yearmonth = "CODE" (the 住民記録 '
                "birth year-month signal)",
                "age_",
            )
        return AgeBand(self.birth, low, high)


def parse_rules(text: str, *, path: str = "<rules>", data: bytes | None = None) -> RuleSet:
    """Parse a rule file's text. Raises :class:`RuleError` naming file, line and rule."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(match.group(1)) if match else None
        raise RuleError(path, line, None, f"not valid TOML: {exc}") from None
    source = _Source(path, text)
    extra = set(document) - {"rules", "rule"}
    if extra:
        raise RuleError(
            path,
            None,
            None,
            f"unknown top-level key(s) {sorted(extra)}; "
            "a rule file holds [rules] and [[rule]] tables",
        )
    meta = document.get("rules", {})
    if not isinstance(meta, dict):
        raise RuleError(path, None, None, "[rules] must be a table")
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise RuleError(
            path,
            source.meta_line(unknown[0]),
            None,
            f"unknown key {unknown[0]!r} in [rules] (allowed: {', '.join(sorted(_META_KEYS))})",
        )
    birth = meta.get("birth_yearmonth")
    if birth is not None and (not isinstance(birth, str) or not birth):
        raise RuleError(
            path,
            source.meta_line("birth_yearmonth"),
            None,
            "[rules] birth_yearmonth must be a catalogue code",
        )
    reference = meta.get("reference_date")
    if reference is not None:
        if isinstance(reference, str):
            try:
                reference = date.fromisoformat(reference)
            except ValueError:
                reference = None
        if not isinstance(reference, date):
            raise RuleError(
                path,
                source.meta_line("reference_date"),
                None,
                "[rules] reference_date must be a date YYYY-MM-DD",
            )
    entries = document.get("rule", [])
    if not isinstance(entries, list) or not entries:
        raise RuleError(path, None, None, "no rules: add at least one [[rule]] table")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        line = source.rule_span(index)[0]
        name = entry.get("name") if isinstance(entry, dict) else None
        label = name if isinstance(name, str) else None
        parser = _Parser(source, index, label, birth)
        if not isinstance(name, str) or not name.strip():
            raise parser.error(f'rule #{index + 1} needs name = "..."')
        for key in ("description", "purpose"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise parser.error(f'needs {key} = "..." (Japanese, for the committee)')
        if name in seen:
            raise parser.error(f"the name is already used by the rule on line {seen[name]}")
        seen[name] = line
        body = {k: v for k, v in entry.items() if k not in _TOP_KEYS}
        if not body:
            raise parser.error("has no condition (all / any / at_least / not / signal / ...)")
        try:
            condition = parser.condition(body, "condition")
        except RecursionError:
            raise parser.error("conditions are nested too deeply") from None
        rules.append(Rule(name, entry["description"], entry["purpose"], condition, line))
    raw = data if data is not None else text.encode("utf-8")
    return RuleSet(
        rules=tuple(rules),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
        title=str(meta.get("title", "")),
        birth_code=birth,
        reference_date=reference,
        meta=dict(meta),
        text=text,
    )


def load_rules(path: str | Path, catalogue: Catalogue | None = None) -> RuleSet:
    """Read and parse a rule file (UTF-8); check it against ``catalogue`` when given."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RuleError(str(path), None, None, "rule file not found") from None
    except OSError as exc:
        raise RuleError(str(path), None, None, f"cannot read the rule file: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RuleError(str(path), line, None, "the rule file must be UTF-8") from None
    rules = parse_rules(text, path=str(path), data=data)
    if catalogue is not None:
        check_against_catalogue(rules, catalogue)
    return rules


def _walk(condition: Condition) -> Iterable[Condition]:
    yield condition
    if isinstance(condition, AllOf | AtLeast):
        for part in condition.parts:
            yield from _walk(part)
    elif isinstance(condition, Not | Sibling):
        yield from _walk(condition.part)


def check_against_catalogue(rules: RuleSet, catalogue: Catalogue) -> None:
    """Every code a rule uses must be in the catalogue, and each condition must fit its
    value type (categories for ``in``, counts for ``min``/``max``, dates for periods)."""
    specs = {s.code: s for s in catalogue.signals}
    source_lines = _Source(rules.path, rules.text)
    for index, rule in enumerate(rules.rules):

        def fail(message: str, needle: str, rule: Rule = rule, index: int = index) -> RuleError:
            line = source_lines.find(index, needle)
            return RuleError(rules.path, line or rule.line, rule.name, message)

        for cond in _walk(rule.condition):
            if isinstance(cond, AgeBand):
                spec = specs.get(cond.birth_code)
                if spec is None:
                    raise fail(
                        f"birth_yearmonth {cond.birth_code!r} is not in catalogue version "
                        f"{catalogue.version} (codes: {', '.join(sorted(specs)) or 'none'})",
                        "age_",
                    )
                if spec.value_type not in ("yearmonth", "date"):
                    raise fail(
                        f"age bands need a yearmonth or date signal; {cond.birth_code!r} is "
                        f"a {spec.value_type}",
                        "age_",
                    )
            if not isinstance(cond, SignalIs):
                continue
            spec = specs.get(cond.code)
            if spec is None:
                raise fail(
                    f"unknown signal code {cond.code!r}: not in catalogue version "
                    f"{catalogue.version} (codes: {', '.join(sorted(specs)) or 'none'})",
                    f'"{cond.code}"',
                )
            kind = spec.value_type
            if cond.categories is not None:
                if kind != "category":
                    raise fail(
                        f"`in` needs a category signal; {cond.code!r} is a {kind}", cond.code
                    )
                unknown = sorted(cond.categories - set(spec.categories))
                if unknown:
                    raise fail(
                        f"{cond.code!r} has no categor{'y' if len(unknown) == 1 else 'ies'} "
                        f"{unknown} (catalogue: {list(spec.categories)})",
                        cond.code,
                    )
            if (cond.minimum is not None or cond.maximum is not None) and kind != "count":
                raise fail(f"min/max need a count signal; {cond.code!r} is a {kind}", cond.code)
            if cond.start is not None or cond.end is not None:
                if kind not in ("date", "yearmonth"):
                    raise fail(
                        f"from/until need a date or yearmonth signal; {cond.code!r} is a {kind}",
                        cond.code,
                    )
                form = len(cond.start or cond.end or "")
                if kind == "yearmonth" and form != 7:
                    raise fail(
                        f"{cond.code!r} is a year-month: write from/until as YYYY-MM", cond.code
                    )
