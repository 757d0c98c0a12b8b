"""Household conditions in support rules (issue 16): ``sibling``, ``has_sibling`` and
``guardian_in``, table-driven over small households, plus their parsing errors and the
list's household column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from coordinator_testkit import table

from coordinator.rules import RuleError, parse_rules
from coordinator.support import HOUSEHOLD_HEADER, SupportListError, build_support_list

REF = date(2026, 4, 1)
HEADER = """\
[rules]
title = "世帯のテスト"
birth_yearmonth = "birth_ym"
reference_date = "2026-04-01"

[[rule]]
name = "r"
description = "説明"
purpose = "目的"
"""

# Household H1: A (school, long absence) and B (younger, registered with 要対協) and C.
# Household H2: D alone. E has no household entry (no family data for it).
CHILDREN = {
    "A": {"jumin": {"birth_ym": "2014-06"}, "gakko": {"choki_kesseki": True}},
    "B": {"jumin": {"birth_ym": "2022-01"}, "kodomo": {"yotaikyo": True}},
    "C": {"jumin": {"birth_ym": "2020-03"}, "boshi": {"kenshin_mijushin": True}},
    "D": {"jumin": {"birth_ym": "2020-05"}, "gakko": {"choki_kesseki": True}},
    "E": {"jumin": {"birth_ym": "2021-05"}, "kodomo": {}},
}
HOUSEHOLDS = {"A": "H1", "B": "H1", "C": "H1", "D": "H2"}

CASES = [
    ("sibling registered with 要対協", '{ sibling = { present_in = "kodomo" } }', {"A", "C"}),
    ("sibling has a signal", '{ sibling = { signal = "choki_kesseki" } }', {"B", "C"}),
    ("sibling has a flag signal set", '{ sibling = { signal = "yotaikyo" } }', {"A", "C"}),
    ("has a sibling", "{ has_sibling = true }", {"A", "B", "C"}),
    ("no sibling", "{ has_sibling = false }", {"D", "E"}),
    (
        "own signal and a sibling's",
        'all = [ { signal = "kenshin_mijushin" }, { sibling = { signal = "yotaikyo" } } ]',
        {"C"},
    ),
    (
        "young child whose sibling is absent long",
        'all = [ { age_from = 0, age_to = 6 }, { sibling = { signal = "choki_kesseki" } } ]',
        {"B", "C"},
    ),
    (
        "no sibling with 要対協",
        '{ not = { sibling = { present_in = "kodomo" } } }',
        {"B", "D", "E"},
    ),
    ("sibling absent from school", '{ sibling = { absent_from = "gakko" } }', {"A", "B", "C"}),
]


@pytest.mark.parametrize(("what", "condition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_household_conditions(what: str, condition: str, expected: set[str]) -> None:
    rules = parse_rules(HEADER + _line(condition))
    made = build_support_list(table(CHILDREN), rules, REF, households=HOUSEHOLDS)
    assert {row.token for row in made.rows} == expected
    assert all(row.household == HOUSEHOLDS.get(row.token) for row in made.rows)


def _line(condition: str) -> str:
    """A condition as a rule's top-level keys (``all = [...]`` or an inline table's keys)."""
    if condition.startswith("{"):
        return condition.strip()[1:-1].strip() + "\n"
    return condition + "\n"


def test_sibling_evidence_is_the_siblings_signal(tmp_path: Path) -> None:
    rules = parse_rules(HEADER + 'sibling = { signal = "yotaikyo" }\n')
    made = build_support_list(table(CHILDREN), rules, REF, households=HOUSEHOLDS)
    row = next(r for r in made.rows if r.token == "A")
    (evidence,) = row.matches[0].evidence
    assert (evidence.body, evidence.ref, evidence.code) == ("kodomo", "B-kodomo", "yotaikyo")
    lines = made.write_csv(tmp_path / "list.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].endswith("," + HOUSEHOLD_HEADER) and lines[1].endswith(",H1")
    assert made.to_dict()["rows"][0]["household"] == "H1"


def test_household_rules_without_households_are_refused() -> None:
    rules = parse_rules(HEADER + "has_sibling = true\n")
    with pytest.raises(SupportListError, match="no households"):
        build_support_list(table(CHILDREN), rules, REF)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("sibling = { sibling = { signal = 'yotaikyo' } }", "cannot be nested"),
        ("has_sibling = 1", "has_sibling = true or false"),
        ("sibling = 'kodomo'", "inline table"),
    ],
)
def test_household_condition_errors(condition: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules(HEADER + condition + "\n")


# A guardian of H1 is a 児童扶養手当 payee (福祉); H2's mother made a 妊娠届 (母子保健).
GUARDIAN_BODIES = {"H1": ["fukushi"], "H2": ["boshi", "fukushi"], "H9": ["boshi"]}
GUARDIAN_CASES = [
    ("guardian is a payee", '{ guardian_in = "fukushi" }', {"A", "B", "C", "D"}),
    ("guardian made a 妊娠届", '{ guardian_in = "boshi" }', {"D"}),
    ("no guardian payee", '{ not = { guardian_in = "fukushi" } }', {"E"}),
    (
        "payee household and a sibling with 要対協",
        'all = [ { guardian_in = "fukushi" }, { sibling = { present_in = "kodomo" } } ]',
        {"A", "C"},
    ),
    (
        "payee household, child alone",
        'all = [ { guardian_in = "fukushi" }, { has_sibling = false } ]',
        {"D"},
    ),
    (
        "young child of a payee household, absent sibling",
        'all = [ { age_from = 0, age_to = 6 }, { guardian_in = "fukushi" }, '
        '{ sibling = { signal = "choki_kesseki" } } ]',
        {"B", "C"},
    ),
]


@pytest.mark.parametrize(
    ("what", "condition", "expected"), GUARDIAN_CASES, ids=[c[0] for c in GUARDIAN_CASES]
)
def test_guardian_in(what: str, condition: str, expected: set[str]) -> None:
    rules = parse_rules(HEADER + _line(condition))
    made = build_support_list(
        table(CHILDREN), rules, REF, households=HOUSEHOLDS, guardian_bodies=GUARDIAN_BODIES
    )
    assert {row.token for row in made.rows} == expected
    if condition.startswith("{ guardian_in"):
        assert all(not m.evidence for row in made.rows for m in row.matches)


def test_guardian_in_reads_for_the_committee() -> None:
    rules = parse_rules(HEADER + 'not = { guardian_in = "fukushi" }\n')
    assert rules.rules[0].condition.describe() == "ではない(世帯の保護者が fukushi に記録あり)"
    assert rules.uses_households() and rules.guardian_bodies() == {"fukushi"}
    assert rules.bodies() == set()  # the payee body need hold no child's record


@pytest.mark.parametrize(
    ("guardians", "households", "message"),
    [
        (GUARDIAN_BODIES, None, "no households"),
        ({"H1": ["boshi"]}, HOUSEHOLDS, "guardian_in names fukushi .*guardian records: boshi"),
        (None, HOUSEHOLDS, "guardian records: none"),
    ],
)  # fmt: skip
def test_guardian_in_refused_without_guardian_records(
    guardians: dict | None, households: dict | None, message: str
) -> None:
    rules = parse_rules(HEADER + 'guardian_in = "fukushi"\n')
    with pytest.raises(SupportListError, match=message):
        build_support_list(
            table(CHILDREN), rules, REF, households=households, guardian_bodies=guardians
        )


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("guardian_in = 1", "guardian_in must name a body"),
        ("guardian_in = ''", "guardian_in must name a body"),
        ("sibling = { guardian_in = 'fukushi' }", "cannot be nested"),
        ("guardian_in = 'fukushi'\nhas_sibling = true", "stands alone"),
    ],
)
def test_guardian_in_errors(condition: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rules(HEADER + condition + "\n")
