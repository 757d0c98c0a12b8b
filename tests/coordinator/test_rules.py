"""Support rules: parsing, validation against the catalogue, and the semantics of each
condition (table-driven), plus laws of the combinators (hypothesis)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from coordinator_testkit import catalogue, table
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.rules import (
    AllOf,
    AtLeast,
    Child,
    Evidence,
    Not,
    RuleError,
    SignalIs,
    age_on,
    load_rules,
    parse_rules,
)
from coordinator.support import build_support_list

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ja" / "examples"
REF = date(2026, 4, 1)

HEADER = """\
[rules]
title = "テスト"
birth_yearmonth = "birth_ym"
reference_date = "2026-04-01"
"""


def rule_file(condition: str, name: str = "r") -> str:
    return (
        HEADER
        + f"""
[[rule]]
name = "{name}"
description = "説明"
purpose = "目的"
{condition}
"""
    )


def listed(condition: str, children: dict) -> set[str]:
    rules = parse_rules(rule_file(condition))
    result = build_support_list(table(children), rules, date(2030, 1, 1))
    return {row.token for row in result.rows}


# -- example 1: 未就園で健診未受診 -------------------------------------------------------------
EXAMPLE_1 = """all = [
  { age_from = 3, age_to = 5 },
  { present_in = "jumin" },
  { absent_from = "hoiku" },
  { signal = "kenshin_mijushin" },
]"""

CASES_1 = [
    (
        "age 4, no nursery, check-up missed",
        {"jumin": {"birth_ym": "2021-09"}, "boshi": {"kenshin_mijushin": True}},
        True,
    ),
    (
        "in a nursery: absence fails",
        {"jumin": {"birth_ym": "2021-09"}, "hoiku": {}, "boshi": {"kenshin_mijushin": True}},
        False,
    ),
    (
        "check-up attended (flag false)",
        {"jumin": {"birth_ym": "2021-09"}, "boshi": {"kenshin_mijushin": False}},
        False,
    ),
    ("no record in boshi at all", {"jumin": {"birth_ym": "2021-09"}}, False),
    ("age 6", {"jumin": {"birth_ym": "2019-09"}, "boshi": {"kenshin_mijushin": True}}, False),
    ("age 2", {"jumin": {"birth_ym": "2024-01"}, "boshi": {"kenshin_mijushin": True}}, False),
    ("not in the resident record", {"boshi": {"kenshin_mijushin": True}}, False),
    ("in jumin without a birth signal", {"jumin": {}, "boshi": {"kenshin_mijushin": True}}, False),
]


@pytest.mark.parametrize(("case", "bodies", "expected"), CASES_1, ids=[c[0] for c in CASES_1])
def test_example_unenrolled_unchecked(case: str, bodies: dict, expected: bool) -> None:
    children = {"T1": bodies, "T2": {"jumin": {"birth_ym": "2021-09"}, "hoiku": {}}}
    assert listed(EXAMPLE_1, children) == ({"T1"} if expected else set())


# -- example 2: 複数の困難があり要対協に未登録 ------------------------------------------------
EXAMPLE_2 = """all = [
  { at_least = 2, of = [
      { signal = "choki_kesseki" },
      { signal = "seikatsu_hogo" },
      { signal = "jido_fuyo" },
  ] },
  { not = { signal = "yotaikyo" } },
]"""

CASES_2 = [
    (
        "absence + public assistance",
        {"gakko": {"choki_kesseki": True}, "fukushi": {"seikatsu_hogo": True}},
        True,
    ),
    (
        "all three",
        {"gakko": {"choki_kesseki": True}, "fukushi": {"seikatsu_hogo": True, "jido_fuyo": True}},
        True,
    ),
    ("only one", {"gakko": {"choki_kesseki": True}, "fukushi": {"seikatsu_hogo": False}}, False),
    (
        "two but registered",
        {
            "gakko": {"choki_kesseki": True},
            "fukushi": {"jido_fuyo": True},
            "kodomo": {"yotaikyo": True},
        },
        False,
    ),
    (
        "two, registration flag false",
        {
            "gakko": {"choki_kesseki": True},
            "fukushi": {"jido_fuyo": True},
            "kodomo": {"yotaikyo": False},
        },
        True,
    ),
    ("no signals at all", {"jumin": {}, "gakko": {}, "fukushi": {}}, False),
]


@pytest.mark.parametrize(("case", "bodies", "expected"), CASES_2, ids=[c[0] for c in CASES_2])
def test_example_two_hardships_unknown_to_council(case: str, bodies: dict, expected: bool) -> None:
    children = {"T1": bodies, "T9": {"jumin": {}, "gakko": {}, "fukushi": {}, "kodomo": {}}}
    assert listed(EXAMPLE_2, children) == ({"T1"} if expected else set())


# -- age bands at their boundaries (reference 2026-04-01) ---------------------------------------
AGE_CASES = [
    ("2023-04", 3, True),   # turns 3 in April 2026: the birth month counts as the birthday
    ("2023-05", 2, False),  # turns 3 in May 2026
    ("2020-05", 5, True),   # turns 6 in May 2026: still 5
    ("2020-04", 6, False),  # turned 6 on the reference month
    ("2023-03", 3, True),
    ("2020-04-30", 6, False),  # a full date: only its year-month is used
]  # fmt: skip


@pytest.mark.parametrize(("birth", "age", "in_band"), AGE_CASES, ids=[c[0] for c in AGE_CASES])
def test_age_band_boundaries(birth: str, age: int, in_band: bool) -> None:
    assert age_on(birth, REF) == age
    got = listed("age_from = 3\nage_to = 5", {"T": {"jumin": {"birth_ym": birth}}})
    assert got == ({"T"} if in_band else set())


def test_open_age_band() -> None:
    children = {
        "young": {"jumin": {"birth_ym": "2025-01"}},
        "old": {"jumin": {"birth_ym": "2010-01"}},
    }
    assert listed("age_to = 2", children) == {"young"}
    assert listed("age_from = 15", children) == {"old"}


# -- value conditions -------------------------------------------------------------------------
VALUE_CASES = [
    (
        'signal = "hoiku_shubetsu"\nin = ["認可外", "一時預かり"]',
        {"hoiku_shubetsu": "認可外"},
        True,
    ),
    ('signal = "hoiku_shubetsu"\nin = ["認可外"]', {"hoiku_shubetsu": "認可"}, False),
    ('signal = "hoiku_shubetsu"', {"hoiku_shubetsu": "認可"}, True),  # present
    ('signal = "kesseki_nissu"\nmin = 30', {"kesseki_nissu": 30}, True),
    ('signal = "kesseki_nissu"\nmin = 30', {"kesseki_nissu": 29}, False),
    ('signal = "kesseki_nissu"\nmax = 0', {"kesseki_nissu": 0}, True),
    ('signal = "kesseki_nissu"\nmin = 10\nmax = 20', {"kesseki_nissu": 21}, False),
    ('signal = "kesseki_nissu"', {"kesseki_nissu": 0}, True),  # a count of 0 is there
    ('signal = "tennyu_bi"\nfrom = "2025-10-01"', {"tennyu_bi": "2025-10-01"}, True),
    ('signal = "tennyu_bi"\nfrom = "2025-10-01"', {"tennyu_bi": "2025-09-30"}, False),
    ('signal = "tennyu_bi"\nuntil = "2025-12-31"', {"tennyu_bi": "2026-01-01"}, False),
    (
        'signal = "tennyu_bi"\nfrom = "2025-10"\nuntil = "2025-12"',
        {"tennyu_bi": "2025-12-31"},
        True,
    ),
    ('signal = "birth_ym"\nfrom = "2021-04"\nuntil = "2022-03"', {"birth_ym": "2022-03"}, True),
    ('signal = "birth_ym"\nfrom = "2021-04"\nuntil = "2022-03"', {"birth_ym": "2022-04"}, False),
]


@pytest.mark.parametrize(("condition", "signals", "expected"), VALUE_CASES)
def test_value_conditions(condition: str, signals: dict, expected: bool) -> None:
    bodies: dict[str, dict] = {"jumin": {}, "gakko": {}, "hoiku": {}}
    for code, value in signals.items():
        body = next(s.body for s in catalogue().signals if s.code == code)
        bodies[body] = {code: value}
    assert listed(condition, {"T": bodies}) == ({"T"} if expected else set())


def test_presence_and_absence_stand_alone() -> None:
    children = {"A": {"jumin": {}, "hoiku": {}}, "B": {"jumin": {}}}
    assert listed('present_in = "hoiku"', children) == {"A"}
    assert listed('absent_from = "hoiku"', children) == {"B"}


# -- empty inputs -----------------------------------------------------------------------------
def test_empty_table_gives_an_empty_list_with_zero_counts(tmp_path: Path) -> None:
    rules = parse_rules(rule_file(EXAMPLE_1))
    result = build_support_list(table({}), rules, REF)
    assert result.rows == [] and result.counts == {"r": 0} and result.tokens_screened == 0
    csv_text = result.write_csv(tmp_path / "list.csv").read_text(encoding="utf-8-sig")
    assert csv_text.splitlines() == [
        "トークン,該当した規則,根拠となった信号,照会先（機関: 参照番号）"
    ]


def test_children_without_signals_are_not_listed_by_signal_rules() -> None:
    children = {f"T{i}": {"jumin": {}, "gakko": {}, "fukushi": {}, "kodomo": {}} for i in range(5)}
    assert listed(EXAMPLE_2, children) == set()


# -- the shipped example files ----------------------------------------------------------------
def test_shipped_examples_parse_and_fit_the_demo_catalogue() -> None:
    from synthetic.signals import demo_catalogue_dict

    files = sorted(DOCS.glob("rules_*.toml"))
    assert len(files) >= 2
    for path in files:
        rules = load_rules(path, catalogue(demo_catalogue_dict()))
        assert rules.rules and all(r.description and r.purpose for r in rules.rules)


# -- errors name file, line and rule ----------------------------------------------------------
ERROR_CASES = [
    ("toml syntax", HEADER + "\n[[rule]]\nname = \"a\"\ndescription = \"x\n", 8, None,
     "not valid TOML"),
    ("no rules", HEADER, None, None, "no rules"),
    ("missing name", HEADER + "\n[[rule]]\ndescription = \"d\"\npurpose = \"p\"\n"
     "signal = \"jido_fuyo\"\n", 6, None, "needs name"),
    ("missing purpose", rule_file('signal = "jido_fuyo"').replace('purpose = "目的"\n', ""), 6,
     "r", "needs purpose"),
    ("no condition", rule_file(""), 6, "r", "has no condition"),
    ("unknown key", rule_file('signal = "jido_fuyo"\nweight = 3'), 11, "r", "unknown key"),
    ("at_least too large", rule_file(
        'at_least = 3\nof = [ { signal = "jido_fuyo" }, { signal = "seikatsu_hogo" } ]'),
     10, "r", "from 1 to 2"),
    ("at_least without of", rule_file("at_least = 1"), 10, "r", "needs of"),
    ("two combinators", rule_file('all = [ { signal = "a" } ]\nany = [ { signal = "b" } ]'), 10,
     "r", "cannot be combined"),
    ("empty all", rule_file("all = []"), 10, "r", "non-empty list"),
    ("age band upside down", rule_file("age_from = 6\nage_to = 3"), 10, "r", "above age_to"),
    ("bad period", rule_file('signal = "tennyu_bi"\nfrom = "2025/10/01"'), 10, "r",
     "year-month"),
    ("weights are not conditions", rule_file("score = 0.7"), 10, "r", "unknown condition"),
    ("unknown [rules] key",
     HEADER.replace("title", "weighting = 1\ntitle") + rule_file("")[len(HEADER) :],
     2, None, "unknown key 'weighting' in [rules]"),
    ("bad reference date", HEADER.replace("2026-04-01", "2026-13-01") + "\n[[rule]]\n", 4, None,
     "reference_date must be a date"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "line", "rule", "words"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
def test_parse_errors_name_file_line_and_rule(
    tmp_path: Path, case: str, text: str, line: int | None, rule: str | None, words: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    err = caught.value
    assert err.path == str(path) and err.line == line and err.rule == rule, str(err)
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_second_rule_error_points_at_its_own_lines(tmp_path: Path) -> None:
    text = (
        rule_file('signal = "jido_fuyo"', "first")
        + """
[[rule]]
name = "second"
description = "d"
purpose = "p"
all = [
  { signal = "jido_fuyo" },
  { signal = "nai_code" },
]
"""
    )
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(path, catalogue())
    lines = text.splitlines()
    assert caught.value.rule == "second"
    assert lines[caught.value.line - 1].strip() == '{ signal = "nai_code" },'
    assert "unknown signal code 'nai_code'" in str(caught.value)
    assert "catalogue version 3" in str(caught.value)


def test_duplicate_rule_names(tmp_path: Path) -> None:
    one = rule_file('signal = "jido_fuyo"', "same")
    text = one + one[len(HEADER) :]
    with pytest.raises(RuleError, match="already used by the rule on line 6") as caught:
        parse_rules(text, path="x.toml")
    assert caught.value.rule == "same"


CATALOGUE_CASES = [
    ('signal = "nai"', "unknown signal code 'nai'"),
    ('signal = "jido_fuyo"\nin = ["a"]', "`in` needs a category signal"),
    ('signal = "hoiku_shubetsu"\nin = ["幼稚園"]', "no category ['幼稚園']"),
    ('signal = "jido_fuyo"\nmin = 1', "min/max need a count signal"),
    ('signal = "kesseki_nissu"\nfrom = "2025-01"', "from/until need a date or yearmonth"),
    ('signal = "birth_ym"\nfrom = "2025-01-01"', "write from/until as YYYY-MM"),
]


@pytest.mark.parametrize(("condition", "words"), CATALOGUE_CASES)
def test_catalogue_checks(condition: str, words: str) -> None:
    rules = parse_rules(rule_file(condition), path="c.toml")
    with pytest.raises(RuleError, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        rules.check_catalogue(catalogue())
    assert caught.value.line == 10 and caught.value.rule == "r"


def test_age_band_needs_a_birth_signal_of_the_right_type() -> None:
    text = rule_file("age_from = 3").replace('birth_yearmonth = "birth_ym"', "")
    with pytest.raises(RuleError, match="needs \\[rules\\] birth_yearmonth"):
        parse_rules(text)
    text = rule_file("age_from = 3").replace('"birth_ym"', '"jido_fuyo"')
    with pytest.raises(RuleError, match="yearmonth or date signal"):
        parse_rules(text).check_catalogue(catalogue())


def test_build_refuses_codes_missing_from_the_table_catalogue() -> None:
    rules = parse_rules(rule_file('signal = "nai"'))
    with pytest.raises(RuleError, match="unknown signal code"):
        build_support_list(table({"T": {"jumin": {}}}), rules, REF)


def test_rule_file_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sjis.toml"
    path.write_bytes(rule_file('signal = "jido_fuyo"').encode("cp932"))
    with pytest.raises(RuleError, match="must be UTF-8"):
        load_rules(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="rule file not found"):
        load_rules(tmp_path / "nope.toml")


# -- laws of the combinators -----------------------------------------------------------------
CODES = ("a", "b", "c", "d")


@st.composite
def children(draw: st.DrawFn) -> Child:
    flags = draw(st.dictionaries(st.sampled_from(CODES), st.booleans()))
    return Child(
        "T",
        frozenset({"x"}),
        {code: (Evidence("x", "r", code, value),) for code, value in flags.items()},
    )


conditions = st.recursive(
    st.sampled_from(CODES).map(SignalIs),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map(lambda p: AllOf(tuple(p))),
        st.lists(inner, min_size=1, max_size=4).flatmap(
            lambda p: st.integers(1, len(p)).map(lambda n: AtLeast(n, tuple(p)))
        ),
        inner.map(Not),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(children(), conditions)
def test_double_negation(child: Child, cond: SignalIs) -> None:
    assert Not(Not(cond)).evaluate(child, REF).holds == cond.evaluate(child, REF).holds


@settings(max_examples=300, deadline=None)
@given(children(), st.lists(conditions, min_size=1, max_size=5), st.data())
def test_at_least_counts_true_parts(child: Child, parts: list, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, len(parts)))
    truths = [p.evaluate(child, REF).holds for p in parts]
    result = AtLeast(n, tuple(parts)).evaluate(child, REF)
    assert result.holds == (sum(truths) >= n)
    # all = at least all of them; any = at least one; De Morgan for not
    assert AllOf(tuple(parts)).evaluate(child, REF).holds == all(truths)
    assert AtLeast(len(parts), tuple(parts)).evaluate(child, REF).holds == all(truths)
    assert AtLeast(1, tuple(parts)).evaluate(child, REF).holds == any(truths)
    negated = AtLeast(1, tuple(Not(p) for p in parts)).evaluate(child, REF).holds
    assert Not(AllOf(tuple(parts))).evaluate(child, REF).holds == negated


@settings(max_examples=300, deadline=None)
@given(children(), conditions)
def test_evidence_is_only_set_signals_and_only_when_true(child: Child, cond: SignalIs) -> None:
    result = cond.evaluate(child, REF)
    if not result.holds:
        assert result.evidence == frozenset()
    for e in result.evidence:
        assert e.value is True and e in child.signals[e.code]


@settings(max_examples=300, deadline=None)
@given(st.dates(date(1990, 1, 1), date(2030, 12, 31)), st.dates(date(2000, 1, 1), date(2040, 1, 1)))
def test_age_from_year_month_is_age_of_a_child_born_on_the_first(birth: date, on: date) -> None:
    first = birth.replace(day=1)
    completed = on.year - first.year - ((on.month, on.day) < (first.month, first.day))
    assert age_on(birth.strftime("%Y-%m"), on) == completed


@settings(max_examples=200, deadline=None)
@given(
    st.frozensets(st.sampled_from(("jumin", "hoiku", "boshi"))),
    st.sampled_from(("jumin", "hoiku", "boshi")),
)
def test_absence_is_the_negation_of_presence(bodies: frozenset[str], body: str) -> None:
    from coordinator.rules import InBody

    child = Child("T", bodies, {})
    present = InBody(body, True).evaluate(child, REF).holds
    assert InBody(body, False).evaluate(child, REF).holds == (not present)
    assert Not(InBody(body, True)).evaluate(child, REF).holds == (not present)
    assert present == (body in bodies)
