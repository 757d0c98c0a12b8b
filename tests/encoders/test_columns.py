"""Column resolution: standard resident-record names, mapping files, overrides, 個人番号 refused,
missing required columns. All data synthetic."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from encoders.columns import (
    CANONICAL_KEYS,
    STANDARD_HEADERS,
    describe,
    resolve_columns,
)
from encoders.errors import InputError
from encoders.readers import open_table

STANDARD = [
    "宛名番号",
    "氏名",
    "氏",
    "名",
    "氏名_フリガナ",
    "氏_フリガナ",
    "名_フリガナ",
    "生年月日",
    "性別",
    "住所",
    "旧氏",
    "通称",
    "氏名_外国人ローマ字",
    "世帯番号",
]


def _mapping(tmp_path: Path, text: str, name: str = "columns.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(headers: list[str], **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        resolve_columns(headers, file_label="jumin.csv", **kwargs)  # type: ignore[arg-type]
    return info.value


def test_standard_data_list_is_recognised_without_configuration() -> None:
    plan = resolve_columns(STANDARD, file_label="jumin.csv")
    assert plan.index == {
        key: STANDARD.index(h) for h, key in zip(STANDARD[:-1], CANONICAL_KEYS, strict=True)
    }
    assert all(how == "standard" for _, _, how in plan.recognised)
    assert [h for h, _, _ in plan.recognised] == STANDARD[:-1]
    assert plan.ignored == ["世帯番号"]
    assert plan.missing_optional == []


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("氏名（フリガナ）", "full_kana"),
        ("氏名(フリガナ)", "full_kana"),
        ("フリガナ", "full_kana"),
        ("氏名カナ", "full_kana"),
        ("ｼﾒｲｶﾅ", None),
        ("ローマ字氏名", "roman_name"),
        ("氏名_外国人ローマ字", "roman_name"),
        (" 生年月日 ", "date_of_birth"),
    ],
)
def test_header_variants(header: str, key: str | None) -> None:
    plan = resolve_columns(
        ["ID", "氏名", "生年月日", header] if "生年月日" not in header else ["ID", "氏名", header]
    )
    if key is None:
        assert header in plan.ignored
    else:
        assert plan.index[key] == plan.headers.index(header)


@pytest.mark.parametrize(
    "header", ["宛名番号", "住民番号", "管理番号", "ID", "ＩＤ", "id", "record_id", "レコードID"]
)
def test_record_id_headers(header: str) -> None:
    plan = resolve_columns([header, "氏名", "生年月日"])
    assert plan.index["record_id"] == 0
    assert plan.recognised[0] == (header, "record_id", "standard")


def test_two_id_columns_use_the_preferred_one_and_say_so() -> None:
    plan = resolve_columns(["ID", "宛名番号", "氏名", "生年月日"])
    assert plan.index["record_id"] == 1
    assert "ID" in plan.ignored
    assert any("ID not used" in n for n in plan.notes)


def test_columns_of_several_rows_are_their_records_column_by_column() -> None:
    plan = resolve_columns(["宛名番号", "備考", "氏", "名", "生年月日"])
    rows = [
        [" 0001 ", "memo", "山田", "\u3000太郎", "2015-04-01"],
        ["0002", "", "佐藤", "花子 ", ""],
    ]
    columns = plan.columns(rows)
    assert columns == {
        "record_id": ["0001", "0002"],
        "surname": ["山田", "佐藤"],
        "given_name": ["太郎", "花子"],
        "date_of_birth": ["2015-04-01", ""],
    }
    for i, cells in enumerate(rows):
        assert {key: values[i] for key, values in columns.items()} == plan.record(cells)


def test_record_strips_cells_and_holds_only_mapped_keys() -> None:
    plan = resolve_columns(["宛名番号", "備考", "氏", "名", "生年月日"])
    cells = [" 0001 ", "memo", "山田", "\u3000太郎", "2015-04-01"]
    assert plan.record(cells) == {
        "record_id": "0001",
        "surname": "山田",
        "given_name": "太郎",
        "date_of_birth": "2015-04-01",
    }
    assert set(plan.missing_optional) == {
        "full_kana",
        "sex",
        "address",
        "former_surname",
        "alias",
        "roman_name",
    }


def test_kana_parts_satisfy_kana() -> None:
    plan = resolve_columns(["ID", "氏名", "生年月日", "氏_フリガナ", "名_フリガナ"])
    assert "full_kana" not in plan.missing_optional


# -- mapping file and overrides ----------------------------------------------------------------
def test_mapping_file(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        '[columns]\nrecord_id = "児童番号"\nfull_name = "児童氏名"\ndate_of_birth = "誕生日"\n',
    )
    headers = ["児童番号", "児童氏名", "誕生日", "保護者氏", "保護者名", "性別"]
    plan = resolve_columns(headers, mapping_file=mapping, file_label="hoiku.csv")
    assert plan.index == {"record_id": 0, "full_name": 1, "date_of_birth": 2, "sex": 5}
    assert plan.recognised == [
        ("児童番号", "record_id", "mapping"),
        ("児童氏名", "full_name", "mapping"),
        ("誕生日", "date_of_birth", "mapping"),
        ("性別", "sex", "standard"),
    ]
    assert plan.ignored == ["保護者氏", "保護者名"]


def test_mapped_name_blocks_standard_name_parts(tmp_path: Path) -> None:
    # 氏/名 here are the guardian's: a mapped child's name is never mixed with them.
    mapping = _mapping(tmp_path, '[columns]\nfull_name = "児童氏名"\n')
    plan = resolve_columns(["ID", "児童氏名", "氏", "名", "生年月日"], mapping_file=mapping)
    assert "surname" not in plan.index and "given_name" not in plan.index
    assert plan.ignored == ["氏", "名"]


def test_overrides_beat_the_mapping_file(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[columns]\nrecord_id = "番号"\ndate_of_birth = "誕生日"\n')
    headers = ["番号", "整理番号", "氏名", "誕生日"]
    plan = resolve_columns(headers, mapping_file=mapping, overrides={"record_id": "整理番号"})
    assert plan.index["record_id"] == 1
    assert plan.index["date_of_birth"] == 3
    assert "番号" in plan.ignored


def test_mapping_matches_headers_by_nfkc(tmp_path: Path) -> None:
    plan = resolve_columns(["ＮＯ", "氏名", "生年月日"], overrides={"record_id": "NO"})
    assert plan.index["record_id"] == 0


def test_mapping_naming_an_absent_header(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[columns]\nfull_name = "児童氏名"\n')
    err = _error(["ID", "氏名", "生年月日"], mapping_file=mapping)
    assert (err.file, err.column) == ("jumin.csv", "児童氏名")
    assert "not in the file" in err.reason and "ID, 氏名, 生年月日" in err.reason
    err = _error(["ID", "氏名", "生年月日"], overrides={"date_of_birth": "誕生日"})
    assert err.column == "誕生日" and "--column date_of_birth=誕生日" in err.reason


def test_mapping_with_an_unknown_key(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[columns]\nbirthday = "誕生日"\n')
    err = _error(["ID", "氏名", "誕生日"], mapping_file=mapping)
    assert err.file == "columns.toml" and "birthday" in err.reason
    assert "date_of_birth" in err.reason


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[columns\nrecord_id = 1", "not valid TOML"),
        ('record_id = "番号"\n', "no [columns] table"),
        ("[columns]\nrecord_id = 3\n", "header name"),
    ],
)
def test_malformed_mapping_files(tmp_path: Path, text: str, needle: str) -> None:
    err = _error(["ID", "氏名", "生年月日"], mapping_file=_mapping(tmp_path, text))
    assert needle in err.reason


def test_missing_mapping_file(tmp_path: Path) -> None:
    err = _error(["ID", "氏名", "生年月日"], mapping_file=tmp_path / "nai.toml")
    assert err.file == "nai.toml" and "not found" in err.reason


def test_one_header_mapped_twice() -> None:
    err = _error(["ID", "氏名", "生年月日"], overrides={"full_name": "氏名", "alias": "氏名"})
    assert err.column == "氏名" and "both" in err.reason


# -- 個人番号 (My Number) ----------------------------------------------------------------
@pytest.mark.parametrize("header", ["個人番号", "マイナンバー"])
def test_my_number_as_the_only_id_is_refused(header: str) -> None:
    err = _error([header, "氏名", "生年月日"])
    assert err.column == header
    assert "My Number" in err.reason and "must not be used" in err.reason


def test_my_number_mapped_explicitly_is_refused(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[columns]\nrecord_id = "個人番号"\n')
    headers = ["宛名番号", "個人番号", "氏名", "生年月日"]
    assert "My Number" in _error(headers, mapping_file=mapping).reason
    assert "My Number" in _error(headers, overrides={"alias": "個人番号"}).reason


def test_my_number_beside_a_proper_id_is_never_read() -> None:
    plan = resolve_columns(["宛名番号", "個人番号", "氏名", "生年月日"])
    assert plan.index["record_id"] == 0
    assert 1 not in plan.index.values()
    record = plan.record(["1", "123456789012", "山田 太郎", "2015-04-01"])
    assert "123456789012" not in record.values()
    assert any("My Number" in n for n in plan.notes)


# -- required columns ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "column"),
    [
        (["氏名", "生年月日"], "宛名番号"),
        (["ID", "生年月日", "性別"], "氏名"),
        (["ID", "氏名", "性別"], "生年月日"),
        (["ID", "氏", "生年月日"], "名"),
        (["ID", "名", "生年月日"], "氏"),
    ],
)
def test_missing_required_column(headers: list[str], column: str) -> None:
    err = _error(headers)
    assert err.column == column
    assert "required column not found" in err.reason
    assert "headers found: " + ", ".join(headers) in err.reason
    assert str(err).startswith(f"jumin.csv, column {column}: ")


# -- describe ------------------------------------------------------------------------------------
def test_describe_lists_recognised_ignored_and_absent(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[columns]\ndate_of_birth = "誕生日"\n')
    plan = resolve_columns(["宛名番号", "氏名", "誕生日", "備考"], mapping_file=mapping)
    text = describe(plan)
    assert "宛名番号" in text and "record_id  (standard)" in text
    assert "date_of_birth  (mapping)" in text
    assert "Columns ignored: 備考" in text
    assert "住所 (address)" in text and "性別 (sex)" in text


# -- end to end with a reader --------------------------------------------------------------------
def test_reader_and_plan_give_canonical_records(tmp_path: Path) -> None:
    path = tmp_path / "jumin.csv"
    path.write_bytes(
        "宛名番号,氏名,生年月日,住所\r\n1,山田 太郎,R5.4.1,本町1〜2\r\n".encode("utf-8-sig")
    )
    with open_table(path) as table:
        plan = resolve_columns(table.headers, file_label=table.file)
        records = [(n, plan.record(c)) for n, c in table]
    assert records == [
        (
            2,
            {
                "record_id": "1",
                "full_name": "山田 太郎",
                "date_of_birth": "R5.4.1",
                "address": "本町1～2",
            },
        )
    ]


# -- general rule ----------------------------------------------------------------------------------
_SPACE = st.sampled_from(["", " ", "\u3000", "\t"])


@given(
    key=st.sampled_from(sorted(STANDARD_HEADERS)),
    data=st.data(),
    before=_SPACE,
    after=_SPACE,
    wide=st.booleans(),
)
def test_standard_headers_match_whatever_the_width_and_padding(
    key: str, data: st.DataObject, before: str, after: str, wide: bool
) -> None:
    name = data.draw(st.sampled_from(STANDARD_HEADERS[key]))
    if wide:  # ASCII letters typed full-width, as some systems export them
        name = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    header = before + name + after
    assert unicodedata.normalize("NFKC", header).strip() == unicodedata.normalize("NFKC", name)
    base = {"record_id": "宛名番号", "full_name": "氏名", "date_of_birth": "生年月日"}
    headers = [h for k, h in base.items() if k != key] + [header]
    if key in ("surname", "given_name"):
        headers.append("名" if key == "surname" else "氏")
        headers.remove("氏名")
    plan = resolve_columns(headers)
    assert plan.index[key] == headers.index(header)
