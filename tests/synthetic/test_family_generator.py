"""Synthetic families: determinism, stories, pregnancies around their expected dates,
the exports' columns and what they hold."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from synthetic import REFERENCE_DATE, generate
from synthetic.family import (
    GUARDIAN_COLUMNS,
    JUMIN_FAMILY_COLUMNS,
    FamilyTown,
    generate_families,
)
from synthetic.family.truth import PREGNANCY_YEARS
from synthetic.formats import format_date


@pytest.fixture(scope="module")
def ft() -> FamilyTown:
    return generate_families(1500, seed=5, error_level="normal", twins=0.3)


def _rows(export) -> list[dict[str, str]]:
    text = export.to_bytes().decode(export.spec.encoding)
    return list(csv.DictReader(io.StringIO(text)))


def test_same_seed_same_files_and_children_unchanged(tmp_path: Path) -> None:
    a = generate_families(300, seed=2, error_level="dirty")
    b = generate_families(300, seed=2, error_level="dirty")
    pa, pb = a.write_exports(tmp_path / "a"), b.write_exports(tmp_path / "b")
    assert set(pa) == {"jumin", "gakko", "hoiku", "fukushi", "boshi", "boshi_ninshin",
                       "fukushi_fuyo"}  # fmt: skip
    for key in pa:
        assert pa[key].read_bytes() == pb[key].read_bytes()
    ta, tb = a.write_family_truth(tmp_path / "ta"), b.write_family_truth(tmp_path / "tb")
    for name in ta:
        assert ta[name].read_bytes() == tb[name].read_bytes()
    # the children's own columns of every body are those of the plain generator
    plain = generate(300, seed=2, error_level="dirty")
    for key, export in plain.bodies.items():
        width = len(export.spec.columns)
        assert [r[:width] for r in a.town.bodies[key].rows] == export.rows


def test_jumin_guardian_columns(ft: FamilyTown) -> None:
    jumin = ft.town.bodies["jumin"]
    assert jumin.spec.columns[-len(JUMIN_FAMILY_COLUMNS) :] == JUMIN_FAMILY_COLUMNS
    assert "保護者1_氏名" in GUARDIAN_COLUMNS and "保護者2_続柄" in GUARDIAN_COLUMNS
    rows = _rows(jumin)
    assert len(rows) == len(ft.town.persons)
    by_id: dict[str, str] = {}
    relations = Counter()
    for row in rows:
        assert row["保護者1_宛名番号"] and row["続柄"] in ("子", "妻の子")
        relations[row["保護者1_続柄"]] += 1
        if row["保護者2_宛名番号"]:
            relations[row["保護者2_続柄"]] += 1
            assert row["保護者1_宛名番号"] != row["保護者2_宛名番号"]
        for n in (1, 2):
            gid = row[f"保護者{n}_宛名番号"]
            if gid:  # one guardian is written the same on every child's row
                assert by_id.setdefault(gid, row[f"保護者{n}_氏名"]) == row[f"保護者{n}_氏名"]
                assert gid not in {r["宛名番号"] for r in rows[:50]}
    assert {"母", "父"} <= set(relations)
    assert set(relations) <= {"母", "父", "養父", "継父"}


def test_family_stories_and_surname_changes(ft: FamilyTown) -> None:
    fam = ft.families
    kinds = Counter(fam.family_type.values())
    assert kinds["two_parents"] > kinds["single_mother_divorced"] > 0
    assert kinds["single_father"] > 0 and kinds["step_family"] > 0
    # mothers are adults when their children are born
    for child in ft.town.persons:
        for gid, rel in fam.child_guardians[child.person_id]:
            g = fam.guardians[gid]
            if rel == "母":
                age = (child.dob - g.person.dob).days / 365.25
                assert 16 <= age <= 46
    changed = [p for p in fam.pregnancies if p.surname_changed]
    assert changed, "some mothers' surnames changed since the pregnancy"
    for p in changed:
        assert p.surname.kanji != fam.guardians[p.mother_id].person.surname.kanji
    # payees are single parents only
    single = {hid for hid, k in fam.family_type.items() if k.startswith("single")}
    for gid in fam.payees:
        assert fam.guardians[gid].person.household_id in single


def test_pregnancies_births_around_expected_dates(ft: FamilyTown) -> None:
    fam = ft.families
    persons = {p.person_id: p for p in ft.town.persons}
    status = Counter(p.status for p in fam.pregnancies)
    assert status["born"] > 50 and status["open"] > 0
    first = REFERENCE_DATE - timedelta(days=round(PREGNANCY_YEARS * 365.25))
    deltas = []
    for p in fam.pregnancies:
        if p.status == "open":
            assert p.expected > REFERENCE_DATE and not p.children
        if p.status == "born":
            dobs = {persons[c].dob for c in p.children}
            assert len(dobs) == 1  # twins share the birth
            dob = dobs.pop()
            assert dob >= first
            deltas.append((dob - p.expected).days)
            assert -126 <= deltas[-1] <= 20
    early = sum(d < -21 for d in deltas) / len(deltas)
    assert 0.01 < early < 0.4  # preterm births exist, most are at term
    multiple = [p for p in fam.pregnancies if len(p.children) > 1]
    assert multiple and all(len(p.children) == 2 for p in multiple)
    rows = _rows(ft.bodies["boshi_ninshin"])
    assert len(rows) == len(fam.pregnancies)
    assert set(rows[0]) == {"管理番号", "氏名", "氏名_フリガナ", "生年月日", "住所", "旧氏",
                            "出産予定日", "届出日"}  # fmt: skip
    recorded = {p.record_id: p.recorded_expected for p in fam.pregnancies if not p.edd_typo}
    iso = sum(r["出産予定日"] == format_date(recorded[r["管理番号"]], "iso")
              for r in rows if r["管理番号"] in recorded)  # fmt: skip
    assert iso > 0.8 * len(recorded)


def test_payee_export(ft: FamilyTown) -> None:
    rows = _rows(ft.bodies["fukushi_fuyo"])
    assert len(rows) == len(ft.families.payees) > 0
    assert all(r["手当"] == "児童扶養手当" and int(r["対象児童数"]) >= 1 for r in rows)


def test_households_truth_groups_siblings(ft: FamilyTown) -> None:
    house = ft.families.household_of()
    by_hid: dict[int, set[int]] = {}
    for p in ft.town.persons:
        by_hid.setdefault(p.household_id, set()).add(house[p.person_id])
    assert all(len(v) == 1 for v in by_hid.values())


def test_clean_has_no_record_differences() -> None:
    ft = generate_families(400, seed=1, error_level="clean")
    assert not any(
        p.surname_changed or p.address_moved or p.edd_revised or p.edd_typo or p.status == "lost"
        for p in ft.families.pregnancies
    )
