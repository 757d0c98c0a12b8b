"""Readers: CSV in UTF-8 / UTF-8-BOM / CP932 and xlsx read to the same rows; bad input fails
with the right row and column; rows stream. All names and numbers are synthetic."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encoders.errors import InputError
from encoders.readers import fold_cp932_variants, header_key, open_table

HEADER = ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "住所"]
RECORDS = [
    ["1001", "髙橋 一郎", "タカハシ イチロウ", "2015-04-01", "架空市本町1－2－3"],
    ["1002", "渡邊 花子", "ワタナベ ハナコ", "2016-12-31", "架空市東町4～5"],
    ["1003", "佐藤 ①", "サトウ", "2017-01-09", ""],
]


def _csv_bytes(rows: list[list[str]], encoding: str, newline: str = "\r\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    return buf.getvalue().encode(encoding)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _read(path: Path, **kwargs: str) -> tuple[str, list[str], list[tuple[int, list[str]]]]:
    with open_table(path, **kwargs) as table:
        return table.encoding, table.headers, list(table)


def _xlsx(path: Path, rows: list[list[object]], title: str = "Sheet1") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def _error(path: Path, **kwargs: str) -> InputError:
    with pytest.raises(InputError) as info:
        _read(path, **kwargs)
    return info.value


# -- same records, four encodings ------------------------------------------------------------
def test_cp932_utf8_bom_utf8_and_xlsx_read_to_identical_rows(tmp_path: Path) -> None:
    rows = [HEADER, *RECORDS]
    sjis = _write(tmp_path / "jumin_sjis.csv", _csv_bytes(rows, "cp932"))
    bom = _write(tmp_path / "jumin_bom.csv", _csv_bytes(rows, "utf-8-sig"))
    plain = _write(tmp_path / "jumin_utf8.csv", _csv_bytes(rows, "utf-8", newline="\n"))
    book_rows: list[list[object]] = [HEADER]
    for rid, name, kana, dob, addr in RECORDS:
        book_rows.append([int(rid), name, kana, dt.date.fromisoformat(dob), addr or None])
    book = _xlsx(tmp_path / "jumin.xlsx", book_rows)

    expected = [(i + 2, list(r)) for i, r in enumerate(RECORDS)]
    results = {p.name: _read(p) for p in (sjis, bom, plain, book)}
    assert {name: enc for name, (enc, _, _) in results.items()} == {
        "jumin_sjis.csv": "cp932",
        "jumin_bom.csv": "utf-8-sig",
        "jumin_utf8.csv": "utf-8",
        "jumin.xlsx": "xlsx",
    }
    for _, headers, got in results.values():
        assert headers == HEADER
        assert got == expected


@pytest.mark.parametrize("forced", ["shift_jis", "sjis", "Shift-JIS", "cp932", "MS932"])
def test_forced_shift_jis_means_cp932(tmp_path: Path, forced: str) -> None:
    path = _write(tmp_path / "a.csv", _csv_bytes([HEADER, *RECORDS], "cp932"))
    encoding, _, rows = _read(path, encoding=forced)
    assert encoding == "cp932"
    assert rows[0][1][1] == "髙橋 一郎"  # a CP932 extension character, not in plain Shift_JIS


def test_forced_utf8_on_a_bom_file_drops_the_bom(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", _csv_bytes([HEADER, *RECORDS], "utf-8-sig"))
    encoding, headers, _ = _read(path, encoding="utf-8")
    assert encoding == "utf-8-sig"
    assert headers[0] == "宛名番号"


def test_wave_dash_and_minus_fold_to_the_cp932_forms(tmp_path: Path) -> None:
    # A macOS/JIS-mapped export writes U+301C and U+2212; a Windows one U+FF5E and U+FF0D.
    jis = _write(tmp_path / "mac.csv", "ID,住所\n1,本町1\u22122〜3\n".encode())
    win = _write(tmp_path / "win.csv", "ID,住所\r\n1,本町1－2～3\r\n".encode("cp932"))
    assert _read(jis)[2] == _read(win)[2] == [(2, ["1", "本町1\uff0d2\uff5e3"])]
    assert fold_cp932_variants("\u2014\u2016\u00a2\u00a3\u00ac") == "\u2015\u2225\uffe0\uffe1\uffe2"


def test_tab_separated_text_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.txt", "ID\t氏名\n1\t山田 太郎\n".encode())
    assert _read(path)[2] == [(2, ["1", "山田 太郎"])]


# -- row numbers, blank lines, header names --------------------------------------------------
def test_blank_lines_are_skipped_and_row_numbers_are_editor_lines(tmp_path: Path) -> None:
    text = '\nID,氏名,住所\n1,"山田\n太郎",x\n\n,,\n  ,\t, \n2,佐藤 花子,y\n'
    path = _write(tmp_path / "a.csv", text.encode())
    with open_table(path) as table:
        assert table.header_row == 2
        rows = list(table)
    assert rows == [(3, ["1", "山田\n太郎", "x"]), (8, ["2", "佐藤 花子", "y"])]


def test_header_names_are_stripped_and_matched_by_nfkc(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", " ＩＤ ,氏名（フリガナ）\u3000\n1,ア\n".encode())
    with open_table(path) as table:
        assert table.headers == ["ＩＤ", "氏名（フリガナ）"]
        assert table.header_keys == ["id", "氏名(フリガナ)"]
    assert header_key("\u3000Record_ID ") == "record_id"


def test_trailing_empty_fields_are_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", b"ID,name,,\n1,a,,\n2,b\n")
    with open_table(path) as table:
        assert table.headers == ["ID", "name"]
        assert list(table) == [(2, ["1", "a"]), (3, ["2", "b"])]


def test_a_table_streams_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", b"ID,name\n1,a\n")
    with open_table(path) as table:
        assert list(table) == [(2, ["1", "a"])]
        with pytest.raises(RuntimeError):
            iter(table)


# -- xlsx ------------------------------------------------------------------------------------
def test_xlsx_cell_values_become_text(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "a.xlsx",
        [
            ["ID", "生年月日", "受付", "数", "率", "可", "備考"],
            [
                12345678901234,
                dt.datetime(2015, 4, 1),
                dt.datetime(2024, 5, 6, 9, 30),
                3.0,
                1.5,
                True,
                None,
            ],
            [],
            ["7", dt.date(2016, 2, 29), None, -2, 0.25, False, "〜"],
        ],
    )
    with open_table(path) as table:
        assert table.format == "xlsx"
        assert table.sheet == "Sheet1"
        rows = list(table)
    assert rows == [
        (2, ["12345678901234", "2015-04-01", "2024-05-06 09:30:00", "3", "1.5", "TRUE", ""]),
        (4, ["7", "2016-02-29", "", "-2", "0.25", "FALSE", "～"]),
    ]


def test_xlsx_sheet_choice(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    first = wb.active
    assert first is not None
    first.title = "表紙"
    first.append(["ここはデータではない"])
    data = wb.create_sheet("データ")
    data.append(["ID", "氏名"])
    data.append([1, "山田 太郎"])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    assert _read(path, sheet="データ")[2] == [(2, ["1", "山田 太郎"])]
    err = _error(path, sheet="名簿")
    assert "表紙" in err.reason and "データ" in err.reason


def test_xlsx_value_without_a_header_is_refused(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "a.xlsx", [["ID", "氏名"], [1, "a"], [2, "b", "stray"]])
    err = _error(path)
    assert (err.file, err.row, err.column) == ("a.xlsx", 3, None)
    assert "column 3" in err.reason


# -- bad input ---------------------------------------------------------------------------------
def test_file_not_found(tmp_path: Path) -> None:
    err = _error(tmp_path / "nai.csv")
    assert err.file == "nai.csv" and err.row is None
    assert "not found" in err.reason


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b" , ,\n"])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    err = _error(_write(tmp_path / "empty.csv", data))
    assert err.row is None and "empty" in err.reason
    assert str(err).startswith("empty.csv: ")


def test_header_only_file(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "h.csv", "宛名番号,氏名,生年月日\r\n\r\n".encode("cp932")))
    assert "no data rows" in err.reason
    err = _error(_xlsx(tmp_path / "h.xlsx", [["宛名番号", "氏名"]]))
    assert "no data rows" in err.reason


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    text = 'ID,氏名,生年月日\n1,"山田\n太郎",2015-04-01\n2,佐藤,2016-01-01,extra\n'
    err = _error(_write(tmp_path / "jumin.csv", text.encode()))
    assert (err.file, err.row, err.column) == ("jumin.csv", 4, None)
    assert err.reason == "row 4 has 4 fields, header has 3"
    short = _error(_write(tmp_path / "s.csv", b"ID,a,b\n1,x,y\n2,x\n"))
    assert short.row == 3 and short.reason == "row 3 has 2 fields, header has 3"


def test_error_is_raised_while_streaming_after_good_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", b"ID,a\n1,x\n2,y\n3,z,w\n")
    seen: list[int] = []
    with open_table(path) as table, pytest.raises(InputError) as info:
        for number, _ in table:
            seen.append(number)
    assert seen == [2, 3] and info.value.row == 4


def test_duplicate_header_names(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "d.csv", "ID,氏名,生年月日, 氏名\n1,a,b,c\n".encode()))
    assert (err.row, err.column) == (1, "氏名")
    assert "columns 2" in err.reason and "4" in err.reason
    # full-width and half-width spellings are the same header
    err = _error(_write(tmp_path / "e.csv", "ID,ＩＤ\n1,2\n".encode()))
    assert (err.row, err.column) == (1, "ＩＤ")


def test_empty_header_cell(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "a.csv", b"ID,,name\n1,2,3\n"))
    assert err.row == 1 and "header cell 2 is empty" in err.reason


def test_undecodable_bytes_with_forced_encoding_name_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "jumin.csv", _csv_bytes([HEADER, *RECORDS], "cp932"))
    err = _error(path, encoding="utf-8")
    assert (err.file, err.row, err.column) == ("jumin.csv", 1, None)  # the header itself
    ascii_header = _csv_bytes([["ID", "name", "kana"]], "ascii")
    body = _csv_bytes([["1", "x", "y"], ["2", "髙橋", "タカハシ"]], "cp932")
    err = _error(_write(tmp_path / "b.csv", ascii_header + body), encoding="utf-8")
    assert (err.row, err.column) == (3, "name")
    assert "undecodable bytes at row 3" in str(err)


def test_undecodable_bytes_after_the_detection_prefix(tmp_path: Path) -> None:
    # Over 1 MiB of ASCII rows, so detection says UTF-8; then a CP932 row.
    lines = [b"ID,name,kana\n"] + [b"%d,abcdefghij,klmnopqrst\n" % i for i in range(2, 60_002)]
    data = b"".join(lines) + "60002,髙橋,タカハシ\n".encode("cp932")
    assert len(data) > 1 << 20
    path = _write(tmp_path / "big.csv", data)
    with open_table(path) as table, pytest.raises(InputError) as info:
        assert table.encoding == "utf-8"
        for _ in table:
            pass
    err = info.value
    assert (err.row, err.column) == (60_002, "name")
    assert "--encoding cp932" in err.reason


def test_neither_utf8_nor_cp932(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "x.csv", b"ID,name\n1,ok\n2,\x81 bad\n"))
    assert err.row == 3 and "neither UTF-8 nor Shift_JIS" in err.reason


def test_utf16_and_unknown_encodings_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "u.csv", "ID,氏名\n1,a\n".encode("utf-16"))
    assert "UTF-16" in _error(path).reason
    path = _write(tmp_path / "a.csv", b"ID,a\n1,b\n")
    assert "unknown encoding" in _error(path, encoding="klingon").reason
    assert "not supported" in _error(path, encoding="utf-16").reason


def test_xls_is_refused_with_advice(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    for name in ("old.xls", "renamed.csv"):
        err = _error(_write(tmp_path / name, ole))
        assert err.file == name
        assert ".xlsx" in err.reason and "CSV" in err.reason


def test_broken_xlsx(tmp_path: Path) -> None:
    err = _error(_write(tmp_path / "b.xlsx", b"PK\x03\x04 not really a zip"))
    assert "xlsx" in err.reason


def test_input_error_message_format() -> None:
    err = InputError("jumin.csv", 12, "生年月日", "not a date")
    assert str(err) == "jumin.csv, row 12, column 生年月日: not a date"
    assert str(InputError("a.csv", None, None, "empty")) == "a.csv: empty"
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.row, again.column, again.reason) == (
        "jumin.csv",
        12,
        "生年月日",
        "not a date",
    )


# -- general rule: any table round-trips through CSV in every supported encoding --------------
_ALPHABET = "アイウエオカキクケコ山田佐藤髙橋渡邊①ab12 ,\"'\n-～－"
_cell = st.text(alphabet=_ALPHABET, max_size=8)
_row = st.lists(_cell, min_size=3, max_size=3).filter(lambda r: any(c.strip() for c in r))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_row, min_size=1, max_size=6))
def test_rows_round_trip_in_every_encoding(tmp_path: Path, rows: list[list[str]]) -> None:
    header = ["ID", "氏名", "住所"]
    for encoding in ("utf-8", "utf-8-sig", "cp932"):
        path = _write(tmp_path / f"rt-{encoding}.csv", _csv_bytes([header, *rows], encoding))
        with open_table(path) as table:
            got = [cells for _, cells in table]
        assert got == [[c.replace("\r\n", "\n") for c in r] for r in rows]


# -- streaming -----------------------------------------------------------------------------------
def test_reading_200k_rows_keeps_memory_far_below_file_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="cp932", newline="") as fh:
        fh.write("宛名番号,氏名,氏名_フリガナ,生年月日,住所\r\n")
        chunk = []
        for i in range(200_000):
            chunk.append(
                f"{i:08d},架空 太郎{i % 97},カクウ タロウ,2015-04-01,架空市本町{i % 50}－1\r\n"
            )
            if len(chunk) == 10_000:
                fh.write("".join(chunk))
                chunk.clear()
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = 0
        with open_table(path) as table:
            for _number, _cells in table:
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert size > 10_000_000
    print(f"200k rows, {size} bytes, tracemalloc peak {peak} bytes")
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"
