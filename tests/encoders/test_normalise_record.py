"""normalise_record, the NORMALISERS registry, and general properties (hypothesis)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from encoders.normalise import (
    NORMALISERS,
    Issue,
    NormalisationError,
    identity_for,
    loose_kana,
    normalise_address,
    normalise_date,
    normalise_kanji_name,
    normalise_record,
    normalise_roman_name,
    normalise_sex,
    normalise_text,
    strict_kana,
)

TODAY = date(2025, 6, 1)

CHILD = {
    "record_id": "A-1",
    "full_name": "髙橋\u3000太郎",
    "full_kana": "ﾀｶﾊｼ ﾀﾛｳ",
    "date_of_birth": "令和5年4月1日",
    "sex": "男",
    "address": "東京都千代田区霞が関1丁目2番3号 コーポ〇〇101号室",
}


def test_schema_normalisers_are_all_registered() -> None:
    text = resources.files("linkage").joinpath("schemas", "children-v1.json").read_text("utf-8")
    fields = json.loads(text)["kakehashi"]["fields"]
    assert {f["normaliser"] for f in fields.values()} <= set(NORMALISERS)


def test_full_record() -> None:
    result = normalise_record(CHILD, today=TODAY)
    assert result.values == {
        "surname": "高橋",
        "given_name": "太郎",
        "surname_kana_strict": "タカハシ",
        "given_kana_strict": "タロウ",
        "surname_kana_loose": "タカハシ",
        "given_kana_loose": "タロ",
        "date_of_birth": "20230401",
        "sex": "1",
        "address": "霞ヶ関1-2-3",
        "roman_name": "",
    }
    assert result.issues == []
    assert result.building == "コーポ〇〇101号室"
    assert not result.rejected


def test_variant_records_give_the_same_values() -> None:
    other = {
        "surname": "高橋",
        "given_name": "太郎",
        "surname_kana": "たかはし",
        "given_kana": "たろう",
        "date_of_birth": "2023/4/1",
        "sex": "M",
        "address": "東京都千代田区霞ケ関一丁目二番三号",
    }
    assert (
        normalise_record(other, today=TODAY).values == normalise_record(CHILD, today=TODAY).values
    )


def test_separate_columns_win_over_full_name() -> None:
    record = {"full_name": "山田 花子", "surname": "佐藤", "given_name": "花子"}
    values = normalise_record(record, today=TODAY).values
    assert (values["surname"], values["given_name"]) == ("佐藤", "花子")


def test_former_surname_and_alias_are_alternates() -> None:
    record = {
        "full_name": "佐藤 花子",
        "former_surname": "齋藤",
        "alias": "鈴木 はな",
        "date_of_birth": "2020-01-01",
    }
    values = normalise_record(record, today=TODAY).values
    assert values["surname"] == "佐藤|斎藤|鈴木"
    assert values["given_name"] == "花子|はな"


def test_alias_without_separator_is_a_surname_alternate() -> None:
    values = normalise_record({"surname": "李", "alias": "木村"}, today=TODAY).values
    assert values["surname"] == "李|木村"


def test_kana_only_record_falls_back_to_kana() -> None:
    values = normalise_record({"full_kana": "ヤマダ タロウ"}, today=TODAY).values
    assert values["surname"] == "ヤマダ"
    assert values["given_name"] == "タロウ"


def test_roman_name() -> None:
    values = normalise_record({"roman_name": "Nguyen Van An"}, today=TODAY).values
    assert values["roman_name"] == "AN NGUYEN VAN"


def test_out_of_era_date_rejects_the_row() -> None:
    result = normalise_record({**CHILD, "date_of_birth": "平成31年5月1日"}, today=TODAY)
    assert result.rejected
    assert result.values["date_of_birth"] == ""
    assert Issue("date_of_birth", "date past the end of 平成", "error") in result.issues


def test_future_birth_date_rejects_the_row() -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    result = normalise_record({**CHILD, "date_of_birth": tomorrow}, today=TODAY)
    assert result.rejected


@pytest.mark.parametrize(
    ("record", "issue"),
    [
        (
            {"full_name": "山田太郎"},
            Issue("full_name", "no space between surname and given name", "warning"),
        ),
        ({"full_name": "山〓 太郎"}, Issue("full_name", "placeholder character", "warning")),
        ({"surname": "●"}, Issue("surname", "placeholder character", "warning")),
        ({"sex": "X"}, Issue("sex", "unrecognised sex code", "warning")),
        ({"date_of_birth": ""}, Issue("date_of_birth", "missing", "warning")),
        ({"address": "〓"}, Issue("address", "placeholder character", "warning")),
    ],
)
def test_warnings(record: dict[str, str], issue: Issue) -> None:
    result = normalise_record(record, today=TODAY)
    assert issue in result.issues
    assert not result.rejected


def test_issues_are_not_duplicated() -> None:
    result = normalise_record({"full_name": "山田太郎", "date_of_birth": "2020-01-01"}, today=TODAY)
    reasons = [(i.column, i.reason) for i in result.issues]
    assert len(reasons) == len(set(reasons))


def test_fields_subset() -> None:
    result = normalise_record(CHILD, today=TODAY, fields=["sex", "date_of_birth"])
    assert result.values == {"sex": "1", "date_of_birth": "20230401"}


def test_identity_for() -> None:
    issues: list[Issue] = []
    assert identity_for("record_id")({"record_id": " Ａ-1 "}, issues, TODAY) == "A-1"


def test_empty_record() -> None:
    result = normalise_record({}, today=TODAY)
    assert set(result.values.values()) == {""}
    assert not result.rejected


# ---- properties -----------------------------------------------------------------------

_JA_CHARS = st.sampled_from(
    list("あいうえおかがきぎくさしすたちつてとなにぬはばぱひふまみやゆよらりるわをんっゃゅょぁぃー")
    + list(
        "アイウエオカガキクサシスタチツテトナハバパヒフマミヤユヨラリルワヲンッャュョァィヴヂヅー"
    )
    + list("ｱｲｳｶｷｸﾀﾞﾊﾟｰｯｬ")
    + list("山田髙橋﨑邊邉齋齊澤濱𠮷藪曾鷗斎斉切功丁目番地号一二三十ヶケがヵ霞関")
    + list("0123456789０１２３－-ー−〜～ 　・.,/年月日〓?ABCabc")
)
ja_text = st.text(_JA_CHARS, max_size=16)

STRING_NORMALISERS: dict[str, Callable[[str], str]] = {
    "text": normalise_text,
    "kanji_name": normalise_kanji_name,
    "kana_strict": strict_kana,
    "kana_loose": loose_kana,
    "kana_loose_seion": lambda v: loose_kana(v, seion=True),
    "address": normalise_address,
    "roman_name": normalise_roman_name,
}


@pytest.mark.parametrize("name", sorted(STRING_NORMALISERS))
@given(value=ja_text)
def test_string_normalisers_are_idempotent(name: str, value: str) -> None:
    normalise = STRING_NORMALISERS[name]
    once = normalise(value)
    assert normalise(once) == once


@given(value=st.text(max_size=12))
def test_text_rule_idempotent_on_any_unicode(value: str) -> None:
    once = normalise_text(value)
    assert normalise_text(once) == once


@given(day=st.dates(min_value=date(1868, 1, 1), max_value=TODAY))
def test_date_is_idempotent_and_round_trips(day: date) -> None:
    for form in (day.isoformat(), f"{day.year}/{day.month}/{day.day}", f"{day:%Y%m%d}"):
        once = normalise_date(form, today=TODAY)
        assert once == f"{day:%Y%m%d}"
        assert normalise_date(once, today=TODAY) == once


_ERA_START = [
    ("明治", "M", 1, date(1868, 1, 1)),
    ("大正", "T", 2, date(1912, 7, 30)),
    ("昭和", "S", 3, date(1926, 12, 25)),
    ("平成", "H", 4, date(1989, 1, 8)),
    ("令和", "R", 5, date(2019, 5, 1)),
]


@given(day=st.dates(min_value=date(1868, 1, 1), max_value=TODAY))
def test_wareki_forms_agree_with_gregorian(day: date) -> None:
    name, letter, code, start = next(e for e in reversed(_ERA_START) if day >= e[3])
    year = day.year - start.year + 1
    expected = f"{day:%Y%m%d}"
    assert normalise_date(f"{name}{year}年{day.month}月{day.day}日", today=TODAY) == expected
    assert normalise_date(f"{letter}{year}.{day.month}.{day.day}", today=TODAY) == expected
    if year < 100:
        code7 = f"{code}{year:02d}{day.month:02d}{day.day:02d}"
        assert normalise_date(code7, today=TODAY) == expected


@given(value=st.sampled_from(["1", "2", "男", "女", "M", "F", "male", "female", "0", "9", ""]))
def test_sex_is_idempotent(value: str) -> None:
    once = normalise_sex(value)
    assert normalise_sex(once) == once


_KANA = st.text(
    st.sampled_from(
        list(
            "アイウエオカキクケコガギグサシスタチツテトダナニハヒフバパマミヤユヨラリルワンッャュョー"
        )
    ),
    min_size=1,
    max_size=10,
)


def _to_hiragana(value: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in value)


def _to_halfwidth(value: str) -> str:
    import unicodedata as ud

    out = []
    for c in value:
        # Half-width katakana block: look each character up by its half-width name.
        base = ud.normalize("NFD", c)
        half = []
        for part in base:
            name = ud.name(part, "")
            try:
                half.append(ud.lookup("HALFWIDTH " + name.replace("KATAKANA-HIRAGANA ", "")))
            except KeyError:
                if part == "\u3099":
                    half.append("\uff9e")
                elif part == "\u309a":
                    half.append("\uff9f")
                elif name == "KATAKANA-HIRAGANA PROLONGED SOUND MARK":
                    half.append("\uff70")
                else:
                    half.append(part)
        out.append("".join(half))
    return "".join(out)


@given(value=_KANA)
def test_kana_script_and_width_variants_agree(value: str) -> None:
    hira = _to_hiragana(value)
    half = _to_halfwidth(value)
    assert unicodedata.normalize("NFKC", half) == value
    for key in (strict_kana, loose_kana):
        assert key(hira) == key(value) == key(half)
        assert key(" ".join(value)) == key(value)


@given(value=st.text(st.sampled_from(list("ABCXYZabcxyz ")), min_size=1, max_size=12))
def test_roman_name_width_and_case_insensitive(value: str) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != " " else "\u3000" for c in value)
    assert normalise_roman_name(full_width) == normalise_roman_name(value.upper())


@given(value=st.text(st.sampled_from(list("山田髙橋太郎")), min_size=1, max_size=8))
def test_kanji_name_width_of_spaces_irrelevant(value: str) -> None:
    assert normalise_kanji_name(value + "\u3000") == normalise_kanji_name(" " + value)


def test_normalisation_error_carries_column_and_reason() -> None:
    exc = NormalisationError("sex", "unrecognised sex code", "warning")
    assert exc.to_issue() == Issue("sex", "unrecognised sex code", "warning")


def test_runtime_does_not_import_jntajis() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from encoders.normalise import normalise_record, fold_kanji;"
        "fold_kanji('髙'); normalise_record({'surname': '髙橋'});"
        "assert 'jntajis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
