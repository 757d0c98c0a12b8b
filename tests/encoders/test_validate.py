"""Garbled-text (mojibake) detection: no false alarms on genuine names, most garbling found."""

from __future__ import annotations

import pytest

from encoders.validate import CONTROL, NO_NAME, check_columns, looks_garbled, reading_problem
from synthetic.municipality import generate


@pytest.fixture(scope="module")
def genuine() -> list[str]:
    """Every non-ASCII name, reading and address cell of a synthetic municipality."""
    town = generate(600, seed=3)
    text_headers = {
        "氏名",
        "氏",
        "名",
        "氏名_フリガナ",
        "氏_フリガナ",
        "名_フリガナ",
        "住所",
        "旧氏",
    }
    cells = []
    for export in town.bodies.values():
        for i, header in enumerate(export.spec.columns):
            if header in text_headers:
                cells += [row[i] for row in export.rows if row[i] and not row[i].isascii()]
    return cells


GARBLINGS = {
    "UTF-8 read as CP932 (Excel, bad bytes as ・)": lambda v: (
        v.encode("utf-8").decode("cp932", errors="replace").replace("\ufffd", "・")
    ),
    "UTF-8 read as CP932, bad bytes dropped": lambda v: v.encode("utf-8").decode(
        "cp932", errors="ignore"
    ),
    "CP932 read as UTF-8": lambda v: v.encode("cp932", errors="ignore").decode(
        "utf-8", errors="replace"
    ),
    "CP932 read as Latin-1": lambda v: v.encode("cp932", errors="ignore").decode("latin-1"),
    "UTF-8 read as Windows-1252": lambda v: v.encode("utf-8").decode("cp1252", errors="replace"),
}


def test_genuine_text_is_not_called_garbled(genuine: list[str]) -> None:
    assert len(genuine) > 3000
    assert [v for v in genuine if looks_garbled(v)] == []


@pytest.mark.parametrize("how", GARBLINGS)
def test_most_garbled_cells_are_found(genuine: list[str], how: str) -> None:
    garbled = [g for g in map(GARBLINGS[how], genuine) if g.strip()]
    found = sum(looks_garbled(g) is not None for g in garbled)
    assert found / len(garbled) >= 0.75, (how, found, len(garbled))


def test_readings() -> None:
    assert reading_problem("ヤマダ タロウ") is None
    assert reading_problem("ﾔﾏﾀﾞ ﾀﾛｳ") is None
    assert reading_problem("やまだ") is None
    assert reading_problem("YAMADA") == "reading (フリガナ) has no kana"
    assert reading_problem("山田 タロウ") == "reading (フリガナ) contains kanji"


def test_control_characters_are_blanked_before_normalisation() -> None:
    """NUL is the normalisers' column separator: a NUL in a value must never reach them."""
    checked = check_columns({"full_name": ["山田\x00太郎", "佐藤 花子"]}, 2)
    assert checked.columns["full_name"] == ["", "佐藤 花子"]
    assert checked.issues == [
        (0, "full_name", "error", CONTROL),
        (0, "full_name", "error", NO_NAME),  # the only name cell was blanked
    ]
