"""The encoder's bad-input corpus: every case runs `kakehashi encode` and expects its message.

Each case builds its export in the test (no personal data: the rows are made up), runs the
command in-process, and checks the exit status, the one-line error on stderr (whole-file
problems) or the rows of the validation report (row problems), and that nothing partial
is left behind: a failed run leaves no encodings and no keys file.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openpyxl import Workbook

from kakehashi.cli import main

HEADER = ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所"]
GOOD = [
    ["A001", "高橋　太郎", "タカハシ　タロウ", "2015-04-01", "男", "架橋市本町一丁目2番3号"],
    ["A002", "斎藤　花子", "サイトウ　ハナコ", "2016-05-12", "女", "架橋市東町3-4-5"],
    ["A003", "渡辺　健", "ワタナベ　ケン", "2017-07-07", "男", "架橋市西浜二丁目5番地"],
    ["A004", "山本　美咲", "ヤマモト　ミサキ", "2018-01-30", "女", "架橋市緑が丘1-1-1"],
    ["A005", "中村　翔太", "ナカムラ　ショウタ", "2014-11-11", "男", "架橋市北町4-5-6"],
    ["A006", "小林　陽菜", "コバヤシ　ヒナ", "2019-03-03", "女", "架橋市南町7-8-9"],
    ["A007", "加藤　大和", "カトウ　ヤマト", "2013-09-09", "男", "架橋市本町二丁目1番"],
    ["A008", "吉田　結衣", "ヨシダ　ユイ", "2012-12-24", "女", "架橋市東町1-2-3"],
    ["A009", "山田　蓮", "ヤマダ　レン", "2016-06-16", "男", "架橋市西浜一丁目3番地"],
    ["A010", "佐々木　葵", "ササキ　アオイ", "2015-08-08", "女", "架橋市緑が丘2-2-2"],
]


def _csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _with(row: int, column: int, value: str) -> list[list[str]]:
    """GOOD with one cell (0-based data row and column) replaced."""
    rows = [list(r) for r in GOOD]
    rows[row][column] = value
    return rows


def _garble_utf8_as_cp932(text: str) -> str:
    """What Excel shows when it opens a UTF-8 CSV without BOM (bad bytes become ・)."""
    return text.encode("utf-8").decode("cp932", errors="replace").replace("\ufffd", "・")


@dataclass
class Case:
    """One bad input.

    ``make(folder) -> export``; ``args`` are added to the encode command; ``status`` is
    the expected exit status; ``message`` must appear in stderr; ``report`` lists
    ``(row, column, severity, reason fragment)`` the validation report must hold.
    """

    name: str
    make: Callable[[Path], Path]
    status: int
    message: str = ""
    args: list[str] = field(default_factory=list)
    report: list[tuple[int, str, str, str]] = field(default_factory=list)


def _text(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text.encode(encoding))
        return path

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _xlsx(name: str, edit: Callable[[object], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        book = Workbook()
        sheet = book.active
        sheet.append(HEADER)
        for row in GOOD:
            sheet.append(row)
        edit(sheet)
        path = folder / name
        book.save(path)
        return path

    return make


def _merge(sheet: object) -> None:
    sheet["F3"] = sheet["F2"].value  # type: ignore[index]
    sheet.merge_cells("F2:F3")  # type: ignore[attr-defined]


def _formula(sheet: object) -> None:
    # openpyxl writes formulas without a cached value, as a script or some tools do.
    sheet["D4"] = "=DATE(2015,4,1)"  # type: ignore[index]


GARBLED_BODY = _garble_utf8_as_cp932(_csv_text(GOOD)).split("\r\n", 1)[1]
LATIN_BODY = _csv_text(GOOD).encode("cp932").decode("latin-1").split("\r\n", 1)[1]

CASES = [
    Case(
        "utf8 file forced to cp932",
        _text("u8.csv", _csv_text(GOOD)),
        2,
        "is not valid cp932 (the line is valid utf-8: try --encoding utf-8)",
        args=["--encoding", "cp932"],
    ),
    Case(
        "cp932 file forced to utf-8",
        _text("sjis.csv", _csv_text(GOOD), "cp932"),
        2,
        "is not valid utf-8 (the line is valid cp932: try --encoding cp932)",
        args=["--encoding", "utf-8"],
    ),
    Case(
        "utf8 saved after being read as cp932 (Excel), header garbled too",
        _text("excel.csv", _garble_utf8_as_cp932(_csv_text(GOOD))),
        2,
        "required column not found: 宛名番号 (record_id); headers found: 螳帛錐",
    ),
    Case(
        "utf8 data read as cp932 and saved (mojibake rows)",
        _text("moji.csv", ",".join(HEADER) + "\r\n" + GARBLED_BODY),
        2,
        "10 of 10 rows (100.0%) hold garbled text (文字化け; most often: UTF-8 text read as "
        "Shift_JIS (CP932)); no encodings written; the file was read as utf-8, which is right, "
        "so the text was garbled before the file was saved",
        report=[(2, "氏名", "error", "garbled text (文字化け): UTF-8 text read as Shift_JIS")],
    ),
    Case(
        "cp932 data read as latin-1 and saved as utf-8",
        _text("latin.csv", ",".join(HEADER) + "\r\n" + LATIN_BODY),
        2,
        "hold garbled text (文字化け; most often: control characters that Latin-1 makes",
    ),
    Case(
        "latin-1 forced on a cp932 file",
        _text("forced_latin.csv", _csv_text(GOOD), "cp932"),
        2,
        "the headers look garbled (文字化け): the file was read with the wrong encoding",
        args=["--encoding", "latin-1"],
    ),
    Case(
        "one row converted by a tool that could not read it (U+FFFD)",
        _text("fffd.csv", _csv_text(_with(2, 1, "\ufffd\ufffd　\ufffd"))),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[(4, "氏名", "error", "replacement characters")],
    ),
    Case(
        "reading column holds kanji (wrong column mapped)",
        _text("kanji_reading.csv", _csv_text([[r[0], r[1], r[1], *r[3:]] for r in GOOD])),
        2,
        "column 氏名_フリガナ: 10 of 10 readings (100.0%) are not kana",
    ),
    Case(
        "one reading with no kana",
        _text("romaji.csv", _csv_text(_with(0, 2, "TAKAHASHI TARO"))),
        0,
        report=[(2, "氏名_フリガナ", "warning", "reading (フリガナ) has no kana")],
    ),
    Case(
        "header only",
        _text("header.csv", _csv_text([])),
        2,
        "header.csv: the file has a header row (row 1) but no data rows",
    ),
    Case("empty file", _bytes("empty.csv", b""), 2, "empty.csv: the file is empty (no header row)"),
    Case(
        "missing column",
        _text("nodob.csv", _csv_text([r[:3] for r in GOOD], HEADER[:3])),
        2,
        "nodob.csv, column 生年月日: required column not found: 生年月日 (date_of_birth)",
    ),
    Case(
        "wrong field count",
        _text("fields.csv", _csv_text(GOOD).replace("A002,", "A002,x,", 1)),
        2,
        "fields.csv, row 3: row 3 has 7 fields, header has 6",
    ),
    Case(
        "NUL byte in a field",
        _text("nul.csv", _csv_text(_with(3, 1, "山本\x00　美咲"))),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[(5, "氏名", "error", "control character (e.g. a NUL byte) in the field")],
    ),
    Case(
        "Excel error value",
        _text("na.csv", _csv_text(_with(1, 3, "#N/A"))),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[(3, "生年月日", "error", "Excel error value")],
    ),
    Case(
        "merged cells",
        _xlsx("merged.xlsx", _merge),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[
            (2, "住所", "error", "merged cell (F2:F3)"),
            (3, "住所", "error", "merged cell (F2:F3)"),
        ],
    ),
    Case(
        "formula without a cached value",
        _xlsx("formula.xlsx", _formula),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[(4, "生年月日", "error", "formula without a saved value")],
    ),
    Case(
        "duplicate record ids: every later duplicate names the first row",
        _text("dup.csv", _csv_text([*GOOD, ["A001", *GOOD[1][1:]], ["A001", *GOOD[2][1:]]])),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[
            (12, "宛名番号", "error", "record id also on row 2"),
            (13, "宛名番号", "error", "record id also on row 2"),
        ],
    ),
    Case(
        "duplicate record ids count toward --max-reject-rate",
        _text("dup2.csv", _csv_text([*GOOD, ["A001", *GOOD[1][1:]]])),
        2,
        "dup2.csv: 1 of 11 rows rejected (9.1%), above --max-reject-rate 1.0%",
    ),
    Case(
        "blank address",
        _text("noaddr.csv", _csv_text(_with(4, 5, "  "))),
        0,
        report=[(6, "住所", "warning", "address is blank")],
    ),
    Case(
        "no name and no reading",
        _text(
            "noname.csv",
            _csv_text([[*r[:1], "", "", *r[3:]] if r[0] == "A006" else r for r in GOOD]),
        ),
        0,
        args=["--max-reject-rate", "0.2"],
        report=[(7, "氏名", "error", "no name and no reading")],
    ),
    Case(
        "UTF-16 text",
        _text("u16.csv", _csv_text(GOOD), "utf-16"),
        2,
        "u16.csv: the file is UTF-16 text (Excel's 'Unicode text')",
    ),
    Case(
        "old .xls workbook",
        _bytes("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512),
        2,
        "old.xls: this is an old Excel 97-2003 .xls workbook",
    ),
]


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "shared.secret"
    assert _run(["secret", "new", str(path)]) == 0
    return path


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _report(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))[1:]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(
    case: Case, tmp_path: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = case.make(tmp_path)
    capsys.readouterr()
    status = _run(["encode", str(export), "--secret", str(secret), "-j", "1", *case.args])
    err = capsys.readouterr().err
    assert status == case.status, err
    assert case.message in " ".join(err.split()), err
    assert "Traceback" not in err
    kkh = export.with_suffix(".kkh")
    keys = export.with_name(export.stem + ".keys.csv")
    assert kkh.exists() == keys.exists() == (case.status == 0)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    if case.report:
        rows = _report(kkh.with_name(kkh.name + ".report.csv"))
        for row, column, severity, fragment in case.report:
            assert any(r[:3] == [str(row), column, severity] and fragment in r[3] for r in rows), (
                rows
            )


def test_check_reports_the_same_row_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`encode --check` screens rows like `encode`: duplicates and garbling are errors."""
    export = tmp_path / "dup.csv"
    export.write_text(_csv_text([*GOOD, ["A001", *GOOD[1][1:]]]), encoding="utf-8")
    assert _run(["encode", str(export), "--check"]) == 0
    out = capsys.readouterr().out
    assert "11 data rows; 1 would be rejected (9.1%)" in out
    assert "row 12, column 宛名番号: error: record id also on row 2" in out

    garbled = tmp_path / "moji.csv"
    garbled.write_text(",".join(HEADER) + "\r\n" + GARBLED_BODY, encoding="utf-8")
    assert _run(["encode", str(garbled), "--check"]) == 2
    assert "hold garbled text" in capsys.readouterr().err


# -- disk full --------------------------------------------------------------------------------
@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs where this process may mount one (root), else ``Path()``.

    ``KAKEHASHI_TEST_NO_MOUNT=1`` forces the fallback (to test the injection path).
    """
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.environ.get("KAKEHASHI_TEST_NO_MOUNT"):
        yield Path()
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        yield Path()
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _big_export(tmp_path: Path) -> Path:
    rows = [[f"B{i:05d}", *GOOD[i % 10][1:]] for i in range(3000)]
    export = tmp_path / "big.csv"
    export.write_text(_csv_text(rows), encoding="utf-8")
    return export


def test_disk_full_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path,
    secret: Path,
    tiny_disk: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Disk full while encoding: one clear line, exit 2, no file left in the output folder.

    Where this process may mount (root, as in the project's sandbox) the outputs go to a
    real 64 KiB tmpfs that fills up: the kernel's own ENOSPC. Where mounting is refused,
    ENOSPC is injected at the OS boundary instead: ``os.fdopen`` (through which both
    temporary output files are opened) returns files whose writes fail with ENOSPC after
    64 KiB, which is what a full disk does to a buffered write.
    """
    export = _big_export(tmp_path)
    if tiny_disk != Path():
        out_dir = tiny_disk
    else:
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        real_fdopen = os.fdopen

        class _Full(io.RawIOBase):
            def __init__(self, fd: int) -> None:
                self._file = real_fdopen(fd, "wb", buffering=0)
                self._left = 64 * 1024

            def writable(self) -> bool:
                return True

            def write(self, data: object) -> int:
                size = len(memoryview(data))  # type: ignore[arg-type]
                if size > self._left:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                self._left -= size
                return self._file.write(data)  # type: ignore[arg-type]

            def close(self) -> None:
                self._file.close()
                super().close()

        def fdopen(fd: int, mode: str = "r", *args: object, **kwargs: object) -> object:
            raw = io.BufferedWriter(_Full(fd))
            if "b" in mode:
                return raw
            return io.TextIOWrapper(raw, encoding=kwargs.get("encoding") or "utf-8", newline="")

        monkeypatch.setattr(os, "fdopen", fdopen)
    status = _run(
        [
            "encode", str(export), "--secret", str(secret), "-j", "1",
            "--out", str(out_dir / "big.kkh"), "--keys", str(out_dir / "big.keys.csv"),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    assert "No space left on device (disk full); no encodings, keys file or report written" in (
        " ".join(err.split())
    )
    assert sorted(p.name for p in out_dir.iterdir()) == []
