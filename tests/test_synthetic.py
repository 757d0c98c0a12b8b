"""The synthetic municipality: determinism, coverage per body, headers, encodings, truth."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest

from synthetic import BODIES, REFERENCE_DATE, generate, scenario
from synthetic.errors import to_halfwidth_kana, to_hiragana, typo_date
from synthetic.formats import format_date

AGE_RANGES = {"jumin": (0, 18), "gakko": (6, 15), "hoiku": (0, 5), "boshi": (0, 6)}


@pytest.fixture(scope="module")
def town():
    return generate(600, seed=3, error_level="normal")


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = generate(300, seed=11, error_level="dirty")
    b = generate(300, seed=11, error_level="dirty")
    pa = a.write_exports(tmp_path / "a")
    pb = b.write_exports(tmp_path / "b")
    for key in pa:
        assert pa[key].read_bytes() == pb[key].read_bytes()
    a.write_truth(tmp_path / "a.csv")
    b.write_truth(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    c = generate(300, seed=12, error_level="dirty")
    assert c.bodies["jumin"].to_bytes() != a.bodies["jumin"].to_bytes()


def test_exact_count_and_everyone_in_resident_register(town) -> None:
    assert len(town.persons) == 600
    assert len({p.person_id for p in town.persons}) == 600
    assert sorted(town.bodies["jumin"].person_ids) == sorted(p.person_id for p in town.persons)


@pytest.mark.parametrize("spec", BODIES, ids=lambda s: s.key)
def test_each_body_ages_columns_and_ids(town, spec) -> None:
    export = town.bodies[spec.key]
    ages = {p.person_id: p.age(REFERENCE_DATE) for p in town.persons}
    lo, hi = AGE_RANGES.get(spec.key, (0, 18))
    assert export.rows, spec.key
    assert all(lo <= ages[pid] <= hi for pid in export.person_ids)
    assert len(set(export.person_ids)) == len(export.person_ids)  # one record per child
    assert len(set(export.record_ids)) == len(export.record_ids)
    data = export.to_bytes().decode(spec.encoding)
    rows = list(csv.reader(io.StringIO(data)))
    assert tuple(rows[0]) == spec.columns
    assert [r[spec.columns.index(spec.id_header)] for r in rows[1:]] == export.record_ids
    has_split = "氏" in spec.columns
    assert has_split != ("氏名" in spec.columns)


def test_coverage_is_plausible(town) -> None:
    ages = Counter(p.age() for p in town.persons)
    school_age = sum(v for a, v in ages.items() if 6 <= a <= 15)
    assert 0.9 * school_age <= len(town.bodies["gakko"].rows) <= school_age
    assert 0 < len(town.bodies["fukushi"].rows) < 0.4 * len(town.persons)


def test_encodings_cp932_and_bom(town) -> None:
    encodings = {s.key: s.encoding for s in BODIES}
    assert encodings["fukushi"] == "cp932"
    assert town.bodies["gakko"].to_bytes().startswith(b"\xef\xbb\xbf")
    assert not town.bodies["jumin"].to_bytes().startswith(b"\xef\xbb\xbf")
    town.bodies["fukushi"].to_bytes().decode("cp932")  # valid CP932 throughout


def test_truth_maps_every_record(town, tmp_path: Path) -> None:
    n_records = sum(len(e.rows) for e in town.bodies.values())
    assert len(town.truth) == n_records
    path = town.write_truth(tmp_path / "truth.csv")
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows[0] == ["body", "record_id", "person_id"]
    assert len(rows) == n_records + 1
    assert town.truth[(rows[1][0], rows[1][1])] == rows[1][2]


def test_twins_share_household_date_surname_but_not_given_name() -> None:
    town = generate(3000, seed=5)
    twins = [p for p in town.persons if p.twin]
    assert twins
    by_key: dict[tuple, list] = {}
    for p in twins:
        by_key.setdefault((p.household_id, p.dob), []).append(p)
    for pair in by_key.values():
        assert len(pair) == 2
        a, b = pair
        assert a.surname == b.surname and a.address == b.address
        assert a.given.kanji != b.given.kanji


def test_subgroups_present_at_normal_and_absent_when_clean() -> None:
    normal = generate(3000, seed=1, error_level="normal").subgroups()
    assert all(normal[k] for k in ("foreign", "changed_surname", "moved", "twins"))
    clean = generate(500, seed=1, error_level="clean")
    groups = clean.subgroups()
    assert not groups["moved"] and not groups["changed_surname"]


def test_clean_level_records_same_name_everywhere() -> None:
    town = generate(400, seed=2, error_level="clean")
    names = {
        pid: row[1].replace("　", "")
        for pid, row in zip(town.bodies["jumin"].person_ids, town.bodies["jumin"].rows, strict=True)
    }
    boshi = town.bodies["boshi"]
    foreign = town.subgroups()["foreign"]
    for pid, row in zip(boshi.person_ids, boshi.rows, strict=True):
        if pid not in foreign:
            assert row[1].replace("　", "") == names[pid]


def test_foreign_residents_have_roman_names_in_resident_register(town) -> None:
    jumin = town.bodies["jumin"]
    roman_col = jumin.spec.columns.index("氏名_外国人ローマ字")
    foreign = town.subgroups()["foreign"]
    for pid, row in zip(jumin.person_ids, jumin.rows, strict=True):
        assert bool(row[roman_col]) == (pid in foreign)
        if row[roman_col]:
            assert row[roman_col].isascii() and row[roman_col].isupper()


def test_format_helpers() -> None:
    from datetime import date, timedelta

    assert format_date(date(2023, 4, 1), "wareki_kanji") == "令和5年4月1日"
    assert format_date(date(2019, 5, 1), "wareki_kanji") == "令和元年5月1日"
    assert format_date(date(2023, 4, 1), "wareki_dot") == "R5.4.1"
    assert format_date(date(2018, 12, 31), "wareki_slash") == "H30/12/31"
    assert format_date(date(2018, 12, 31), "era_code7") == "4301231"
    assert to_hiragana("キョウコ") == "きょうこ"
    assert to_halfwidth_kana("ガッコウ") == "ｶﾞｯｺｳ"
    import random

    rng = random.Random(0)
    d = date(2015, 3, 7)
    assert all(typo_date(rng, d) != d for _ in range(50))
    recent = REFERENCE_DATE - timedelta(days=3)
    assert all(d != typo_date(rng, recent) <= REFERENCE_DATE for _ in range(200))


def test_scenario_sizes_and_speed() -> None:
    import time

    with pytest.raises(ValueError):
        scenario("huge")
    t0 = time.perf_counter()
    town = scenario("small", "normal")
    assert len(town.persons) == 2000
    assert time.perf_counter() - t0 < 10


def test_twin_pairs_and_canonical_records(town) -> None:
    pairs = generate(3000, seed=5).twin_pairs()
    assert pairs and all(a != b for a, b in pairs)
    fukushi = town.bodies["fukushi"]
    recs = fukushi.canonical_records()
    assert len(recs) == len(fukushi.rows)
    assert {"record_id", "full_name", "date_of_birth", "sex", "address"} <= set(recs[0])
    assert [r["record_id"] for r in recs] == fukushi.record_ids
    for rec in recs:  # what a CP932 file can hold: the reader sees exactly these values
        for value in rec.values():
            assert value.encode("cp932").decode("cp932") == value


def test_twenty_thousand_children_in_seconds() -> None:
    import time

    t0 = time.perf_counter()
    town = generate(20_000, seed=9)
    assert time.perf_counter() - t0 < 15
    assert len(town.bodies["jumin"].rows) == 20_000
