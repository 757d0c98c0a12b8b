"""``kakehashi encode --family``: guardian encodings, relations and date tags (issue 16).

Runs the real command on small synthetic exports: a 住民記録 export whose rows are
children with their guardians' columns, and a 母子保健 妊娠届 export whose rows are
pregnancies (the mother + 出産予定日).
"""

from __future__ import annotations

import csv
import datetime
import json
import re
from pathlib import Path

import pytest

from encoders.secret import new_secret, write_secret
from kakehashi.cli import main
from linkage.container import read_encodings
from linkage.family import date_tag, derive_tag_key
from linkage.family_format import parse_family_document

JUMIN = (
    "宛名番号,氏名,氏名_フリガナ,生年月日,性別,住所,"
    "母_氏名,母_フリガナ,母_生年月日,父_氏名,父_生年月日,保護者2_氏名,保護者2_生年月日,保護者2_続柄\n"
    "C1,佐藤　陽葵,サトウ　ヒマリ,2024-05-01,2,東京都架橋市本町1-2-3,"
    "佐藤　美咲,サトウ　ミサキ,1992-03-04,佐藤　健,1990-01-02,,,\n"
    "C2,佐藤　陽翔,サトウ　ハルト,2024-05-01,1,東京都架橋市本町1-2-3,"
    "佐藤　美咲,サトウ　ミサキ,1992-03-04,佐藤　健,1990-01-02,,,\n"
    "C3,鈴木　蓮,スズキ　レン,R3.7.7,1,東京都架橋市北町5-6,"
    "鈴木　花子,スズキ　ハナコ,1988-11-30,,,鈴木　清,1960-02-02,祖父\n"
)
FAMILY_MAP = """
[guardians.mother]
full_name = "母_氏名"
full_kana = "母_フリガナ"
date_of_birth = "母_生年月日"
address = "住所"

[guardians.father]
full_name = "父_氏名"
date_of_birth = "父_生年月日"
address = "住所"

[guardians.g2]
full_name = "保護者2_氏名"
date_of_birth = "保護者2_生年月日"
relationship = "保護者2_続柄"
relationship_values = { "父" = "father", "母" = "mother", "祖父" = "other", "祖母" = "other" }
"""
NINPU = (
    "妊娠届番号,氏名,氏名_フリガナ,生年月日,住所,出産予定日\n"
    "P1,佐藤　美咲,サトウ　ミサキ,1992-03-04,東京都架橋市本町1-2-3,令和6年5月10日\n"
    "P2,田中　愛,タナカ　アイ,1995-06-07,東京都架橋市南町9,2030-01-15\n"
)
PREGNANCY_MAP = """
subject = "guardian"
record_id = "妊娠届番号"

[guardians.mother]
full_name = "氏名"
full_kana = "氏名_フリガナ"
date_of_birth = "生年月日"
address = "住所"

[pregnancy]
guardian = "mother"
expected_date = "出産予定日"
"""


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    value = new_secret()
    path = tmp_path / "secret.key"
    write_secret(path, value)
    return path, value


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_children_with_guardians(tmp_path: Path, secret: tuple[Path, bytes]) -> None:
    export = _write(tmp_path, "jumin.csv", JUMIN)
    fmap = _write(tmp_path, "family.toml", FAMILY_MAP)
    assert run(["encode", str(export), "--secret", str(secret[0]), "--family", str(fmap)]) == 0
    children = read_encodings(tmp_path / "jumin.kkh")
    family_path = tmp_path / "jumin.family.json"
    text = family_path.read_text(encoding="utf-8")
    # Refs, tags and CLKs are random hex or base64 and may hold any run of digits.
    outside_tokens = re.sub(r"[A-Za-z0-9+/=_-]{24,}", "", text)
    for plain in ("佐藤", "美咲", "サトウ", "1992", "鈴木", "祖父"):
        assert plain not in outside_tokens  # guardians' identifiers never leave in plaintext
    doc = parse_family_document(json.loads(text))
    assert doc.bit_length == children.bit_length and doc.schema_id == children.schema_id
    # The twins' mother and father are one guardian ref each (same CLK), plus 鈴木's two.
    assert len(doc.guardians) == 4
    assert doc.child_refs == set(children.refs)
    role_of = {}
    for child, guardian, role in doc.relations:
        role_of.setdefault(child, []).append((role, guardian))
    keys = dict(csv.reader((tmp_path / "jumin.keys.csv").open(encoding="utf-8")))
    by_record = {keys[ref]: sorted(r) for ref, r in role_of.items()}
    assert [r for r, _ in by_record["C1"]] == ["father", "mother"]
    assert by_record["C1"] == by_record["C2"]  # siblings share both guardians
    assert [r for r, _ in by_record["C3"]] == ["mother", "other"]  # 祖父 via 続柄
    family_keys = dict(csv.reader((tmp_path / "jumin.family.keys.csv").open(encoding="utf-8")))
    assert sorted(family_keys[g] for _, g in by_record["C3"]) == ["C3:g2", "C3:mother"]
    # Birth tags: the twins share one (same week); 鈴木's date came as 和暦.
    tag = dict(doc.births)
    key = derive_tag_key(secret[1])
    ref_of = {v: k for k, v in keys.items() if k != "ref"}
    assert tag[ref_of["C1"]] == tag[ref_of["C2"]] == date_tag(key, datetime.date(2024, 5, 1))
    assert tag[ref_of["C3"]] == date_tag(key, datetime.date(2021, 7, 7))


def test_pregnancy_records(tmp_path: Path, secret: tuple[Path, bytes]) -> None:
    export = _write(tmp_path, "ninpu.csv", NINPU)
    fmap = _write(tmp_path, "preg.toml", PREGNANCY_MAP)
    assert run(["encode", str(export), "--secret", str(secret[0]), "--family", str(fmap)]) == 0
    assert not (tmp_path / "ninpu.kkh").exists()  # rows are mothers: no children's file
    doc = parse_family_document(json.loads((tmp_path / "ninpu.family.json").read_text()))
    assert len(doc.guardians) == 2 and len(doc.pregnancies) == 2 and not doc.relations
    key = derive_tag_key(secret[1])
    keys = dict(csv.reader((tmp_path / "ninpu.family.keys.csv").open(encoding="utf-8")))
    windows = {keys[p]: set(window) for p, _, window in doc.pregnancies}
    assert date_tag(key, datetime.date(2024, 5, 1)) in windows["P1"]  # born 9 days early
    assert date_tag(key, datetime.date(2024, 5, 1)) not in windows["P2"]
    # The mother's CLK is (up to the hardening's random bits) the one the 住民記録 body
    # makes from the same identifiers.
    jumin = _write(tmp_path, "jumin.csv", JUMIN)
    fam = _write(tmp_path, "family.toml", FAMILY_MAP)
    assert run(["encode", str(jumin), "--secret", str(secret[0]), "--family", str(fam)]) == 0
    other = parse_family_document(json.loads((tmp_path / "jumin.family.json").read_text()))
    mother_p1 = next(g for p, g, _ in doc.pregnancies if keys[p] == "P1")
    clk = dict(doc.guardians)[mother_p1]
    assert max(_dice(clk, c) for _, c in other.guardians) > 0.9


def _dice(a: bytes, b: bytes) -> float:
    x, y = int.from_bytes(a), int.from_bytes(b)
    return 2 * (x & y).bit_count() / (x.bit_count() + y.bit_count())


@pytest.mark.parametrize(
    ("text", "fmap", "column", "reason"),
    [
        (JUMIN.replace("1992-03-04", "1992-13-45", 1), FAMILY_MAP, "母_生年月日", "guardian"),
        (JUMIN.replace(",祖父\n", ",叔父\n"), FAMILY_MAP, "保護者2_続柄", "叔父"),
        (NINPU.replace("2030-01-15", "そのうち"), PREGNANCY_MAP, "出産予定日", ""),
    ],
    ids=["bad-guardian-date", "unknown-zokugara", "bad-expected-date"],
)
def test_bad_values_are_row_errors_and_nothing_is_written(
    tmp_path: Path, secret: tuple[Path, bytes], text: str, fmap: str, column: str, reason: str
) -> None:
    export = _write(tmp_path, "export.csv", text)
    mapping = _write(tmp_path, "map.toml", fmap)
    assert run(["encode", str(export), "--secret", str(secret[0]), "--family", str(mapping)]) != 0
    written = {p.name for p in tmp_path.iterdir()}
    assert not {n for n in written if n.endswith((".kkh", ".family.json", "keys.csv"))}
    report = next(tmp_path.glob("*.report.csv")).read_text(encoding="utf-8-sig")
    lines = [line for line in report.splitlines()[1:] if column in line]
    assert lines and all(",error," in line for line in lines)
    assert reason in lines[0]


def test_family_map_errors_name_the_table(tmp_path: Path, secret: tuple[Path, bytes]) -> None:
    from encoders.errors import InputError
    from encoders.family import load_family_map

    bad = _write(tmp_path, "bad.toml", '[guardians.aunt]\nfull_name = "叔母"\n')
    with pytest.raises(InputError, match=r"\[guardians.aunt\]: say role"):
        load_family_map(bad)
    bad.write_text('[guardians.mother]\nfull_name = "母"\n', encoding="utf-8")
    with pytest.raises(InputError, match="date_of_birth"):
        load_family_map(bad)


def test_notification_date_covers_a_missing_expected_date(
    tmp_path: Path, secret: tuple[Path, bytes]
) -> None:
    export = _write(
        tmp_path,
        "ninpu.csv",
        "妊娠届番号,氏名,生年月日,出産予定日,届出日\n"
        "P1,佐藤　美咲,1992-03-04,,2023-10-01\n"  # no expected date: the 届出日 window
        "P2,田中　愛,1995-06-07,,\n",  # neither: a row error
    )
    fmap = _write(
        tmp_path,
        "preg.toml",
        PREGNANCY_MAP.replace("full_kana", "# full_kana")
        .replace("address", "# address")
        .replace(
            'expected_date = "出産予定日"', 'expected_date = "出産予定日"\nnotified_date = "届出日"'
        ),
    )
    assert run(["encode", str(export), "--secret", str(secret[0]), "--family", str(fmap)]) != 0
    report = (tmp_path / "ninpu.family.json.report.csv").read_text(encoding="utf-8-sig")
    assert report.splitlines()[1].startswith("3,出産予定日,error,expected date is empty")
    export.write_text("\n".join(export.read_text().splitlines()[:2]) + "\n", encoding="utf-8")
    assert run(["encode", str(export), "--secret", str(secret[0]), "--family", str(fmap)]) == 0
    doc = parse_family_document(json.loads((tmp_path / "ninpu.family.json").read_text()))
    ((_, _, window),) = doc.pregnancies
    assert date_tag(derive_tag_key(secret[1]), datetime.date(2024, 5, 1)) in window


def test_check_reports_guardian_problems_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _write(tmp_path, "jumin.csv", JUMIN.replace(",祖父\n", ",叔父\n"))
    fmap = _write(tmp_path, "family.toml", FAMILY_MAP)
    capsys.readouterr()
    assert run(["encode", str(export), "--check", "--family", str(fmap)]) == 1
    text = capsys.readouterr().out
    assert "row 4, column 保護者2_続柄: error:" in text and "叔父" in text
    assert {p.name for p in tmp_path.iterdir()} == {"jumin.csv", "family.toml"}
    ninpu = _write(tmp_path, "ninpu.csv", NINPU)
    preg = _write(tmp_path, "preg.toml", PREGNANCY_MAP)
    assert run(["encode", str(ninpu), "--check", "--family", str(preg)]) == 0
    assert "0 guardian or expected-date value(s) not valid" in capsys.readouterr().out
