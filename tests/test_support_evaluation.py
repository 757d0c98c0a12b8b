"""Scoring a support list against planted children (demo evaluation), on hand-made groups."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from coordinator.rules import load_rules
from kakehashi.evaluation import department_alone, rule_bodies, score_support
from linkage.signals import Catalogue
from synthetic.signals import PlantedChild, demo_catalogue_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "ja" / "examples"
U, H = "未就園で健診未受診", "複数の困難があり要対協未登録"

PERSON_OF = {
    ("jumin", "j1"): "A", ("boshi", "b1"): "A",            # A: linked, listed
    ("jumin", "j2"): "B", ("boshi", "b2"): "B",            # B: split in two groups
    ("gakko", "g3"): "C", ("fukushi", "f3"): "C",          # C: merged with D's record
    ("jumin", "j4"): "D",
    ("jumin", "j5"): "E", ("boshi", "b5"): "E",            # E: boshi record rejected
    ("jumin", "j6"): "F",                                  # F: not planted, listed
    ("jumin", "j7"): "G",                                  # G: not planted, false merge
}  # fmt: skip
GROUPS = {
    ("jumin", "j1"): "t1", ("boshi", "b1"): "t1",
    ("jumin", "j2"): "t2", ("boshi", "b2"): "t2b",
    ("gakko", "g3"): "t3", ("fukushi", "f3"): "t3", ("jumin", "j4"): "t3",
    ("jumin", "j5"): "t5",
    ("jumin", "j6"): "t6",
    ("jumin", "j7"): "t7",
}  # fmt: skip
PLANTED = [
    PlantedChild("A", U, "", ("jumin", "boshi")),
    PlantedChild("B", U, "", ("jumin", "boshi")),
    PlantedChild("C", H, "", ("gakko", "fukushi")),
    PlantedChild("E", U, "", ("jumin", "boshi")),
]


def test_found_missed_and_why() -> None:
    listed = {"t1": {U}, "t6": {H}, "t7": {U}}
    ideal = {"A": {U}, "B": {U}, "C": {H}, "E": {U}, "F": {H}}
    result = score_support(listed, GROUPS, PERSON_OF, PLANTED, ideal)
    assert result.found == {"A"} and result.connected == {"A"}
    why = {pid: reason for pid, _, reason in result.missed}
    assert why["B"].startswith("records not linked: split into 2 groups")
    assert "boshi | jumin" in why["B"]
    assert why["C"] == "linked with another child's record (D)"
    assert why["E"] == "record(s) rejected by the encoder at boshi"
    assert result.listed == 3 and result.unplanted == 2
    assert result.unplanted_background == 1  # F meets the rule with perfect linkage
    assert result.unplanted_linkage == 1  # G does not


def test_planted_child_listed_under_another_rule_is_not_found() -> None:
    result = score_support({"t1": {H}}, GROUPS, PERSON_OF, PLANTED[:1], {"A": {U}})
    assert result.found == set() and result.connected == {"A"}
    assert result.missed == [("A", U, "linked correctly but not listed")]


def test_departments_alone_cannot_apply_cross_department_rules(tmp_path: Path) -> None:
    catalogue = Catalogue.from_dict(demo_catalogue_dict())
    text = (EXAMPLES / "rules_fukusu_konnan.toml").read_text(encoding="utf-8")
    text += """
[[rule]]
name = "福祉だけで分かる"
description = "生活保護と児童扶養手当の両方"
purpose = "比較のため"
all = [ { signal = "seikatsu_hogo" }, { signal = "jido_fuyo" } ]
"""
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    rules = load_rules(path, catalogue)
    assert rule_bodies(rules.rules[0], catalogue) == {"gakko", "fukushi", "kodomo"}
    person_of = {("gakko", "g"): "X", ("fukushi", "f"): "X", ("fukushi", "f2"): "Y"}
    values = {
        ("gakko", "X"): {"choki_kesseki": True},
        ("fukushi", "X"): {"seikatsu_hogo": True, "jido_fuyo": False},
        ("fukushi", "Y"): {"seikatsu_hogo": True, "jido_fuyo": True},
    }
    alone = department_alone(person_of, values, rules, catalogue, date(2026, 4, 1))
    assert alone == {"Y": {"福祉だけで分かる"}}  # X needs school + welfare together
