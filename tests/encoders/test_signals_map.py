"""encode --signals on the body's side: the signals map, value conversion, row-level errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from encoders.encode import SignalValuesInvalid, encode_file
from encoders.errors import InputError
from encoders.signals import SignalsJob, load_signal_map
from linkage.schema import default_schema
from linkage.signals import Catalogue, SealContext, key_fingerprint, open_signals, public_key_raw

CATALOGUE = Catalogue.from_dict(
    {
        "version": 2,
        "signals": [
            {"code": "mijushin", "label": "健診未受診", "body": "母子保健", "value_type": "flag",
             "purpose": "p"},
            {"code": "kubun", "label": "区分", "body": "母子保健", "value_type": "category",
             "categories": ["要支援", "特定妊婦"], "purpose": "p"},
            {"code": "visit", "label": "訪問日", "body": "母子保健", "value_type": "date",
             "purpose": "p"},
            {"code": "moved_in", "label": "転入年月", "body": "母子保健",
             "value_type": "yearmonth", "purpose": "p"},
            {"code": "absent", "label": "欠席", "body": "学校", "value_type": "count",
             "purpose": "p"},
        ],
    }
)  # fmt: skip
MAP = """body = "母子保健"
[signals.mijushin]
column = "健診"
values = { "未" = true, "済" = false }
blank = false
[signals.kubun]
column = "区分"
values = { "1" = "要支援", "2" = "特定妊婦" }
[signals.visit]
column = "訪問日"
[signals.moved_in]
column = "転入"
"""
KEY = X25519PrivateKey.generate()
FP = key_fingerprint(public_key_raw(KEY.public_key()))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def export(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所",
             "健診", "区分", "訪問日", "転入"]
        )  # fmt: skip
        people = [
            ("架空 太郎", "カクウ タロウ", "2015-04-01", "男", "東京都架空市みどり町1-2-3"),
            ("見本 花子", "ミホン ハナコ", "2016-05-01", "女", "東京都架空市あおば町2-5"),
            ("試験 一郎", "シケン イチロウ", "2017-12-31", "男", "東京都架空市さくら町3-4"),
        ]
        for i, (person, extra) in enumerate(zip(people, rows, strict=True), 1):
            writer.writerow([f"R{i}", *person, *extra])
    return path


def job(tmp_path: Path, map_text: str = MAP) -> SignalsJob:
    return SignalsJob(
        load_signal_map(write(tmp_path / "map.toml", map_text), CATALOGUE),
        project_id="p1",
        catalogue=CATALOGUE,
        public_key=KEY.public_key(),
        key_fingerprint=FP,
        output=tmp_path / "x.signals.json",
    )


def run(tmp_path: Path, rows: list[list[str]], map_text: str = MAP):
    signals = job(tmp_path, map_text)
    report = encode_file(
        export(tmp_path / "x.csv", rows),
        output=tmp_path / "x.kkh",
        keys_output=tmp_path / "x.keys.csv",
        schema=default_schema(),
        secret=b"s" * 32,
        signals=signals,
    )
    return report, signals


def test_values_are_converted_sealed_and_bound_to_the_encodings_refs(tmp_path: Path) -> None:
    rows = [
        ["未", "1", "令和5年4月1日", "令和5年4月"],
        ["済", "特定妊婦", "R5.10.2", "2020/3"],
        ["", "", "", ""],
    ]
    run(tmp_path, rows)
    doc = json.loads((tmp_path / "x.signals.json").read_text(encoding="utf-8"))
    assert doc["codes"] == ["mijushin", "kubun", "visit", "moved_in"]
    assert (doc["project_id"], doc["body"], doc["catalogue_version"]) == ("p1", "母子保健", 2)
    keys = {}
    with (tmp_path / "x.keys.csv").open(encoding="utf-8") as handle:
        keys = {r["ref"]: r["record_id"] for r in csv.DictReader(handle)}
    # sealed in the encodings file's (random) order, one row per encoded record
    from linkage.container import read_encodings

    assert [r for r, _ in doc["rows"]] == read_encodings(tmp_path / "x.kkh").refs
    assert sorted(r for r, _ in doc["rows"]) == sorted(keys)
    import base64

    ctx = SealContext("p1", "母子保健", CATALOGUE, tuple(doc["codes"]), FP)
    opened = {keys[r]: open_signals(KEY, ctx, r, base64.b64decode(c)) for r, c in doc["rows"]}
    assert opened == {
        "R1": {"mijushin": True, "kubun": "要支援", "visit": "2023-04-01", "moved_in": "2023-04"},
        "R2": {
            "mijushin": False,
            "kubun": "特定妊婦",
            "visit": "2023-10-02",
            "moved_in": "2020-03",
        },
        "R3": {"mijushin": False},  # blank = false; the other blanks mean "no value"
    }
    assert len({len(c) for _, c in doc["rows"]}) == 1


def test_bad_values_are_row_errors_in_the_report_and_nothing_is_written(tmp_path: Path) -> None:
    rows = [
        ["たぶん", "1", "2023-02-30", "令和5年4月"],
        ["未", "9", "平成31年5月1日", "2020/3"],
        ["", "", "", "13月"],
    ]
    with pytest.raises(SignalValuesInvalid, match="5 signal value"):
        run(tmp_path, rows)
    for name in ("x.kkh", "x.keys.csv", "x.signals.json"):
        assert not (tmp_path / name).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.")]
    with (tmp_path / "x.kkh.report.csv").open(encoding="utf-8-sig") as handle:
        found = {(r["row"], r["column"]) for r in csv.DictReader(handle)}
    assert found == {("2", "健診"), ("2", "訪問日"), ("3", "区分"), ("3", "訪問日"), ("4", "転入")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('body = "母子保健"\n[signals.absent]\ncolumn = "欠席"\n', "may be sent by 学校 only"),
        ('body = "母子保健"\n[signals.seiho]\ncolumn = "保護"\n', "'seiho' is not in the"),
        ('[signals.mijushin]\ncolumn = "健診"\n', "say which body"),
        ('body = "母子保健"\n[signals.mijushin]\ncol = "健診"\n', "unknown key"),
        ('body = "母子保健"\n[signals.kubun]\ncolumn = "区分"\nvalues = { "1" = "重度" }\n',
         "not one of the categories"),
    ],
)  # fmt: skip
def test_signal_map_errors_name_the_file_and_code(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_signal_map(write(tmp_path / "m.toml", text), CATALOGUE)
    assert str(info.value).startswith("m.toml: ")


def test_missing_column_is_named(tmp_path: Path) -> None:
    text = 'body = "母子保健"\n[signals.mijushin]\ncolumn = "受診状況"\n'
    with pytest.raises(InputError, match="column 受診状況: column for signal mijushin not found"):
        run(tmp_path, [["", "", "", ""]] * 3, text)
    assert not (tmp_path / "x.kkh").exists()


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "ja" / "examples"


def test_the_japanese_guide_example_behaves_as_documented(tmp_path: Path) -> None:
    """docs/ja/07-signals-encode.md: the example export has one bad date (row 5)."""
    from linkage.signals import load_catalogue

    catalogue = load_catalogue(EXAMPLES / "catalogue_sample.toml")
    signals = SignalsJob(
        load_signal_map(EXAMPLES / "boshi_signals.toml", catalogue),
        project_id="f79e4c65d74821209043e44ae074abd9",
        catalogue=catalogue,
        public_key=KEY.public_key(),
        key_fingerprint=FP,
        output=tmp_path / "boshi.signals.json",
    )
    with pytest.raises(SignalValuesInvalid, match="1 signal value"):
        encode_file(
            EXAMPLES / "boshi_signals_sample.csv",
            output=tmp_path / "boshi.kkh",
            keys_output=tmp_path / "boshi.keys.csv",
            schema=default_schema(),
            secret=b"s" * 32,
            signals=signals,
        )
    report = (tmp_path / "boshi.kkh.report.csv").read_text(encoding="utf-8-sig")
    assert report.splitlines()[1:] == [
        "5,最終受診日,error,last_checkup: not a date (impossible date)"
    ]
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('body = "母子保健"\n[signals.choki_kesseki]\ncolumn = "欠席"\n', "utf-8")
    with pytest.raises(InputError) as info:
        load_signal_map(wrong, catalogue)
    assert str(info.value) == (
        "wrong.toml: [signals.choki_kesseki]: signal 'choki_kesseki' may be sent by 学校 only"
    )


def test_check_dry_run_reports_signal_values(capsys: pytest.CaptureFixture[str]) -> None:
    from kakehashi.cli import main

    with pytest.raises(SystemExit) as exited:
        main(
        [
            "encode", str(EXAMPLES / "boshi_signals_sample.csv"), "--check",
            "--signals", str(EXAMPLES / "boshi_signals.toml"),
            "--catalogue", str(EXAMPLES / "catalogue_sample.toml"),
        ]
        )  # fmt: skip
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "健診受診 → kenshin_mijushin (乳幼児健診未受診, flag): 3 rows with a value" in shown
    assert "row 5, column 最終受診日: error: last_checkup: not a date (impossible date)" in shown
    assert not (EXAMPLES / "boshi_signals_sample.signals.json").exists()


def test_encode_cli_writes_the_signals_file_beside_the_encodings(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from kakehashi.cli import main

    pub = tmp_path / "c.pub.pem"
    pub.write_bytes(
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "out").mkdir()
    secret = tmp_path / "s.secret"
    secret.write_text("ab" * 32 + "\n", encoding="ascii")
    export = tmp_path / "x.csv"
    export.write_text(
        (EXAMPLES / "boshi_signals_sample.csv")
        .read_text(encoding="utf-8-sig")
        .replace("令和5年2月30日", "令和5年2月28日"),
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "encode", str(export), "--secret", str(secret), "-j", "1",
                "--out", str(tmp_path / "out" / "enc.kkh"),
                "--keys", str(tmp_path / "x.keys.csv"),
                "--signals", str(EXAMPLES / "boshi_signals.toml"),
                "--catalogue", str(EXAMPLES / "catalogue_sample.toml"),
                "--coordinator-key", str(pub), "--project", "p1", "--key-fingerprint", FP,
            ]
        )  # fmt: skip
    assert exited.value.code == 0
    doc = json.loads((tmp_path / "out" / "enc.signals.json").read_text(encoding="utf-8"))
    assert doc["key_fingerprint"] == FP and len(doc["rows"]) == 4
