"""Household conditions in support rules (issue 16): ``sibling`` and ``has_sibling``,
table-driven over small households, plus their parsing errors and the list's household
column."""

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
