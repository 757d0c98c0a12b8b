"""Signals end to end through the CLI and a real ``kakehashi serve`` process (SQLite).

The coordinator makes a key pair and creates the project with a catalogue and its public
key; two bodies encode their exports with ``--signals`` (one with the catalogue and key
files, one fetching both from the server and checking the fingerprint read by phone) and
upload; the coordinator runs the linkage and decrypts on its side.

Canary: no signal value (as exported or as decrypted), no plaintext payload and no
private key reaches the server's data folder — database, upload files, logs.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from apiclient import ApiClient, read_credential
from coordinator.keys import KeyFileError, load_private_key
from coordinator.signals import fetch_signals
from encoders.keys import read_keys
from kakehashi.cli import main
from kakehashi.demo import running_server

pytestmark = pytest.mark.slow
PASS = "e2e test passphrase 42"

CATALOGUE_TOML = """
[[signals]]
code = "kenshin_mijushin"
label = "乳幼児健診未受診"
body = "母子保健"
value_type = "flag"
purpose = "健診で会えていない子を把握する"

[[signals]]
code = "last_checkup"
label = "最終受診日"
body = "母子保健"
value_type = "date"
purpose = "最後に会えた日を知る"

[[signals]]
code = "absent_days"
label = "欠席日数"
body = "学校"
value_type = "count"
purpose = "長期欠席の把握"
"""
PEOPLE = [
    ("架空 太郎", "カクウ タロウ", "2015-04-01", "男", "東京都架空市みどり町1-2-3"),
    ("見本 花子", "ミホン ハナコ", "2016-05-01", "女", "東京都架空市あおば町2-5"),
    ("試験 一郎", "シケン イチロウ", "2017-12-31", "男", "東京都架空市さくら町3-4"),
]
# Distinctive values (canaries): they must never reach the server in any form.
HEALTH = [("未受診あり", "平成11年9月9日"), ("受診済み", "2008/08/18"), ("未受診あり", "")]
HEALTH_DECRYPTED = ["1999-09-09", "2008-08-18"]
SCHOOL = ["424242", "0", "373737"]


def kakehashi(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def write_export(path: Path, prefix: str, header: list[str], extra: list[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["宛名番号", "氏名", "氏名_フリガナ", "生年月日", "性別", "住所", *header])
        for i, (person, cells) in enumerate(zip(PEOPLE, extra, strict=True), 1):
            writer.writerow([f"{prefix}{i}", *person, *cells])


def test_signals_through_the_cli_and_nothing_readable_on_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAKEHASHI_KEY_PASSPHRASE", PASS)
    coord_dir = tmp_path / "coordinator"
    assert kakehashi("keys", "new", "--out", coord_dir) == 0
    printed = capsys.readouterr().out
    fingerprint = printed.split("fingerprint: ")[1].split()[0]
    (tmp_path / "catalogue.toml").write_text(CATALOGUE_TOML, encoding="utf-8")
    write_export(tmp_path / "kenko.csv", "H", ["健診", "最終受診日"], HEALTH)
    write_export(tmp_path / "gakko.csv", "S", ["欠席日数"], [(v,) for v in SCHOOL])
    (tmp_path / "kenko_map.toml").write_text(
        'body = "母子保健"\n[signals.kenshin_mijushin]\ncolumn = "健診"\n'
        'values = { "未受診あり" = true, "受診済み" = false }\n'
        '[signals.last_checkup]\ncolumn = "最終受診日"\n',
        encoding="utf-8",
    )
    (tmp_path / "gakko_map.toml").write_text(
        'body = "学校"\n[signals.absent_days]\ncolumn = "欠席日数"\n', encoding="utf-8"
    )
    server_dir = tmp_path / "server"
    with running_server(server_dir) as url:
        creds = tmp_path / "creds"
        assert kakehashi(
            "project", "create", "--server", url,
            "--credential", server_dir / "operator.credential", "--name", "signals",
            "--out", creds, "--body", "母子保健", "--body", "学校",
            "--catalogue", tmp_path / "catalogue.toml",
            "--coordinator-key", coord_dir / "coordinator.pub.pem",
        ) == 0  # fmt: skip
        project = json.loads((creds / "project.json").read_text())["project_id"]
        assert kakehashi("secret", "new", tmp_path / "secret.txt") == 0
        common = ["--secret", tmp_path / "secret.txt", "--workers", "1", "--project", project]
        # 母子保健: catalogue and key as files handed over by the coordinator
        assert kakehashi(
            "project", "catalogue", "show", "--server", url, "--project", project,
            "--credential", creds / "body-母子保健.credential", "--out", tmp_path / "cat.json",
        ) == 0  # fmt: skip
        assert kakehashi(
            "encode", tmp_path / "kenko.csv", *common, "--signals", tmp_path / "kenko_map.toml",
            "--catalogue", tmp_path / "cat.json",
            "--coordinator-key", coord_dir / "coordinator.pub.pem",
            "--key-fingerprint", fingerprint.lower().replace("-", " "),
        ) == 0  # fmt: skip
        # 学校: fetches catalogue and key; without the phone-checked fingerprint it refuses
        fetch = ["--server", url, "--credential", creds / "body-学校.credential"]
        capsys.readouterr()
        assert kakehashi(
            "encode", tmp_path / "gakko.csv", *common, "--signals", tmp_path / "gakko_map.toml",
            *fetch,
        ) != 0  # fmt: skip
        assert "--key-fingerprint" in capsys.readouterr().err
        assert not (tmp_path / "gakko.signals.json").exists()
        assert kakehashi(
            "encode", tmp_path / "gakko.csv", *common, "--signals", tmp_path / "gakko_map.toml",
            *fetch, "--key-fingerprint", "0000-0000-0000-0000-0000-0000",
        ) != 0  # fmt: skip
        assert "do not encrypt to it" in capsys.readouterr().err
        assert kakehashi(
            "encode", tmp_path / "gakko.csv", *common, "--signals", tmp_path / "gakko_map.toml",
            *fetch, "--key-fingerprint", fingerprint,
        ) == 0  # fmt: skip
        for body, stem in (("母子保健", "kenko"), ("学校", "gakko")):
            assert (tmp_path / f"{stem}.signals.json").exists()
            capsys.readouterr()
            assert kakehashi(
                "upload", tmp_path / f"{stem}.kkh", "--server", url, "--project", project,
                "--credential", creds / f"body-{body}.credential",
            ) == 0  # fmt: skip
            assert "uploaded signals of 3 records" in capsys.readouterr().out
        # a signals file alone can be sent (e.g. after a rotation); the same one is not stored twice
        capsys.readouterr()
        assert kakehashi(
            "upload", tmp_path / "kenko.signals.json", "--server", url, "--project", project,
            "--credential", creds / "body-母子保健.credential",
        ) == 0  # fmt: skip
        assert "(already uploaded; nothing new stored)" in capsys.readouterr().out
        coordinator = creds / "coordinator.credential"
        opts = ["--server", url, "--project", project, "--credential", coordinator]
        assert kakehashi("project", "signals", *opts) == 0
        assert kakehashi("run", *opts) == 0

        # the coordinator decrypts on its own machine
        with pytest.raises(KeyFileError, match="wrong passphrase"):
            load_private_key(coord_dir / "coordinator.key.pem", "not the passphrase")
        with pytest.raises(KeyFileError, match="give its passphrase"):
            load_private_key(coord_dir / "coordinator.key.pem", None)
        key = load_private_key(coord_dir / "coordinator.key.pem", PASS)
        with ApiClient(url, read_credential(coordinator)) as client:
            table = fetch_signals(client, project, key)
    keys = {**read_keys(tmp_path / "kenko.keys.csv"), **read_keys(tmp_path / "gakko.keys.csv")}
    got = {(keys[s.ref], s.code): s.value for s in table.signals}
    assert got == {
        ("H1", "kenshin_mijushin"): True, ("H1", "last_checkup"): "1999-09-09",
        ("H2", "kenshin_mijushin"): False, ("H2", "last_checkup"): "2008-08-18",
        ("H3", "kenshin_mijushin"): True,
        ("S1", "absent_days"): 424242, ("S2", "absent_days"): 0, ("S3", "absent_days"): 373737,
    }  # fmt: skip
    assert not table.failures and len(table.tokens) == 6

    # canary: the server's data folder holds no value, no payload and no private key
    private_raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    canaries = [
        *HEALTH_DECRYPTED, "424242", "373737", "平成11年9月9日", "2008/08/18",
        "未受診あり", "受診済み", '[true,"1999-09-09"]', "PRIVATE KEY",
    ]  # fmt: skip
    secrets_ = [private_raw, private_raw.hex().encode(), base64.b64encode(private_raw)]
    server_files = [p for p in server_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in server_files)
    assert any(p.name.endswith(".log") for p in server_files)
    for path in server_files:
        data = path.read_bytes()
        leaked = [c for c in canaries if c.encode("utf-8") in data]
        assert not leaked, f"{path.name} holds signal plaintext or key material: {leaked}"
        assert not any(s in data for s in secrets_), f"{path.name} holds the private key"
    # the signals files a body uploads carry ciphertext only
    for stem in ("kenko", "gakko"):
        data = (tmp_path / f"{stem}.signals.json").read_bytes()
        assert not [c for c in canaries if c.encode("utf-8") in data]
