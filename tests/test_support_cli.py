"""``kakehashi support``: errors are one clear line (file, line, rule), before any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakehashi.cli import main

NOWHERE = "http://127.0.0.1:9"


def run(args: list[object]) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def key_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KAKEHASHI_KEY_PASSPHRASE", "correct horse")
    assert run(["keys", "new", "--out", tmp_path / "keys"]) == 0
    return tmp_path / "keys" / "coordinator.key.pem"


def _support(tmp_path: Path, rules: Path, key: Path) -> list[object]:
    credential = tmp_path / "c.credential"
    credential.write_text("x" * 40)
    return [
        "support", "--rules", rules, "--key", key, "--server", NOWHERE, "--project", "p",
        "--credential", credential, "--out", tmp_path / "list.csv",
    ]  # fmt: skip


def test_rule_error_names_file_line_and_rule(
    tmp_path: Path, key_pair: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[rules]\ntitle = "t"\n\n[[rule]]\nname = "重み付き"\ndescription = "d"\n'
        'purpose = "p"\nsignal = "a"\nweight = 0.5\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(_support(tmp_path, rules, key_pair)) == 2
    err = capsys.readouterr().err
    assert f"{rules}:9: rule '重み付き':" in err and "weight" in err
    assert not (tmp_path / "list.csv").exists()


def test_wrong_passphrase_is_a_clear_error(
    tmp_path: Path, key_pair: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    rules = Path(__file__).resolve().parents[1] / "docs/ja/examples/rules_fukusu_konnan.toml"
    monkeypatch.setenv("KAKEHASHI_KEY_PASSPHRASE", "wrong")
    capsys.readouterr()
    assert run(_support(tmp_path, rules, key_pair)) == 2
    err = capsys.readouterr().err.lower()
    assert "passphrase" in err
    assert not (tmp_path / "list.csv").exists()


def test_missing_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    rules = Path(__file__).resolve().parents[1] / "docs/ja/examples/rules_fukusu_konnan.toml"
    monkeypatch.setenv("KAKEHASHI_KEY_PASSPHRASE", "x")
    assert run(_support(tmp_path, rules, tmp_path / "nope.key.pem")) == 2
    assert "nope.key.pem" in capsys.readouterr().err


def test_output_must_be_csv_or_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _support(tmp_path, tmp_path / "r.toml", tmp_path / "k.pem")
    args[-1] = tmp_path / "list.xlsx"
    assert run(args) == 2
    assert ".csv or .json" in capsys.readouterr().err


EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "ja" / "examples"


def test_rules_check_prints_what_a_committee_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib
    import json

    from synthetic.signals import demo_catalogue_dict

    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps(demo_catalogue_dict(), ensure_ascii=False), encoding="utf-8")
    rules = EXAMPLES / "rules_mishugaku_kenshin.toml"
    capsys.readouterr()
    assert run(["rules", "check", rules, "--catalogue", catalogue]) == 0
    text = capsys.readouterr().out
    assert hashlib.sha256(rules.read_bytes()).hexdigest() in text
    assert "[未就園で健診未受診]  (line 15)" in text
    assert (
        "条件: すべて(年齢 3〜5 歳; jumin に記録あり; hoiku に記録なし; kenshin_mijushin)" in text
    )
    assert "kenshin_mijushin: 乳幼児健診未受診 (boshi, flag)" in text


def test_rules_check_refuses_unknown_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"version": 2, "signals": []}), encoding="utf-8")
    rules = EXAMPLES / "rules_fukusu_konnan.toml"
    assert run(["rules", "check", rules, "--catalogue", catalogue]) == 2
    err = capsys.readouterr().err
    assert (
        f"{rules}:17: rule '複数の困難があり要対協未登録': unknown signal code 'choki_kesseki'"
        in err
    )


def test_rules_check_prints_guardian_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[rules]\ntitle = "t"\n\n[[rule]]\nname = "手当の世帯で保育なし"\ndescription = "d"\n'
        'purpose = "p"\nall = [ { guardian_in = "fukushi" }, { absent_from = "hoiku" } ]\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(["rules", "check", rules]) == 0
    text = capsys.readouterr().out
    assert "条件: すべて(世帯の保護者が fukushi に記録あり; hoiku に記録なし)" in text
