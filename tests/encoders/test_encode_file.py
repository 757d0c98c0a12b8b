"""encode_file: every export format gives the same CLKs; bad input leaves nothing behind."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from encoders.encode import RejectRateExceeded, encode_file
from encoders.errors import InputError
from encoders.keys import read_keys
from linkage.container import read_encodings
from linkage.schema import builtin_schema

SECRET = bytes(range(32))
HEADER = ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所"]
ROWS = [
    ["A001", "髙橋　太郎", "タカハシ　タロウ", "平成27年4月1日", "男", "架橋市本町一丁目2番3号"],
    ["A002", "斎藤　花子", "さいとう　はなこ", "2016/05/12", "女", "架橋市東町3-4-5　コーポ桜101"],
    ["A003", "渡邊　ｹﾝ", "ﾜﾀﾅﾍﾞ ｹﾝ", "R2.7.7", "1", "架橋市西浜二丁目5番地"],
    ["A004", "NGUYEN VAN AN", "グエン　バン　アン", "20190430", "M", "架橋市緑が丘1-1-1"],
]


def _write_csv(path: Path, encoding: str) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _write_xlsx(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append(row)
    book.save(path)
    return path


def _encode(path: Path, tmp: Path, **kwargs: object):
    out = tmp / f"{path.name}.kkh"
    report = encode_file(
        path, output=out, keys_output=tmp / f"{path.name}.keys.csv",
        schema=builtin_schema("children-v1"), secret=SECRET, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    return report, read_encodings(out), read_keys(tmp / f"{path.name}.keys.csv")


def _by_record(encodings, keys: dict[str, str]) -> dict[str, bytes]:
    """record id → CLK bytes (the file's record order is random: encoders.shuffle)."""
    return {
        keys[ref]: clk.tobytes() for ref, clk in zip(encodings.refs, encodings.clks, strict=True)
    }


def test_cp932_utf8_bom_and_xlsx_give_identical_encodings(tmp_path: Path) -> None:
    sources = [
        _write_csv(tmp_path / "a.csv", "cp932"),
        _write_csv(tmp_path / "b.csv", "utf-8-sig"),
        _write_xlsx(tmp_path / "c.xlsx"),
    ]
    results = [_encode(p, tmp_path) for p in sources]
    assert [r.encoding for r, _, _ in results][:2] == ["cp932", "utf-8-sig"]
    first = _by_record(results[0][1], results[0][2])
    assert sorted(first) == [r[0] for r in ROWS]
    for _, encodings, keys in results:
        assert _by_record(encodings, keys) == first
        assert encodings.schema_id == builtin_schema("children-v1").schema_id
    # refs are fresh random values every run: record order alone never identifies anyone
    assert not set(results[0][1].refs) & set(results[1][1].refs)


def test_json_output_is_clkhash_compatible_with_the_same_clks(tmp_path: Path) -> None:
    source = _write_csv(tmp_path / "a.csv", "utf-8")
    _, binary, binary_keys = _encode(source, tmp_path)
    out = tmp_path / "a.json"
    encode_file(
        source,
        output=out,
        keys_output=tmp_path / "k.csv",
        schema=builtin_schema("children-v1"),
        secret=SECRET,
        fmt="json",
    )
    assert _by_record(read_encodings(out), read_keys(tmp_path / "k.csv")) == _by_record(
        binary, binary_keys
    )


def test_rejected_rows_are_reported_and_the_rate_enforced(tmp_path: Path) -> None:
    rows = [*ROWS, ["A005", "山田　一郎", "ヤマダ　イチロウ", "平成31年5月1日", "男", ""]]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    with pytest.raises(RejectRateExceeded, match="1 of 5 rows rejected"):
        _encode(path, tmp_path)
    assert not (tmp_path / "bad.csv.kkh").exists()
    assert not (tmp_path / "bad.csv.keys.csv").exists()
    report_rows = list(csv.reader((tmp_path / "bad.csv.kkh.report.csv").open(encoding="utf-8-sig")))
    assert report_rows[0] == ["row", "column", "severity", "reason"]
    assert report_rows[1:] == [
        ["6", "住所", "warning", "address is blank"],
        ["6", "生年月日", "error", report_rows[2][3]],
    ]
    assert "平成" in report_rows[2][3]

    report, encodings, _ = _encode(path, tmp_path, max_reject_rate=0.25)
    assert (report.rows_read, report.rows_encoded, report.rows_rejected) == (5, 4, 1)
    assert len(encodings) == 4


def test_a_row_with_the_wrong_number_of_fields_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        ",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\nA002,斎藤　花子\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as caught:
        _encode(path, tmp_path)
    assert caught.value.row == 3
    assert "short.csv" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.csv", "short.csv.kkh.report.json"]


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"header\.csv"):
        _encode(path, tmp_path)
    assert not list(tmp_path.glob("*.kkh"))


def test_two_workers_give_the_same_file_content(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    rows = [[f"B{i:05d}", f"高橋　太郎{i % 50}", "タカハシ　タロウ", "2015-04-01", "男",
             f"架橋市本町{i % 9 + 1}-2-3"] for i in range(5000)]  # fmt: skip
    path.write_text("\n".join(",".join(r) for r in [HEADER, *rows]) + "\n", encoding="utf-8")
    _, one, keys_one = _encode(path, tmp_path, workers=1)
    _, two, keys_two = _encode(path, tmp_path, workers=2)
    assert _by_record(one, keys_one) == _by_record(two, keys_two)
