"""The command line: every subcommand documents itself; bad input is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakehashi.cli import main

SUBCOMMANDS = [
    ["secret", "new"],
    ["serve"],
    ["project", "create"],
    ["encode"],
    ["upload"],
    ["run"],
    ["results"],
    ["resolve"],
    ["delete-records"],
    ["demo"],
    ["support"],
    ["rules", "check"],
    ["audit", "verify"],
    ["audit", "checkpoint"],
    ["credentials", "rotate"],
    ["credentials", "reissue"],
    ["credentials", "recovery-code"],
    ["credentials", "recover"],
    ["credentials", "take-over"],
    ["crosslink", "propose"],
    ["crosslink", "approve"],
    ["crosslink", "withdraw"],
    ["crosslink", "status"],
    ["crosslink", "run"],
    ["crosslink", "results"],
    ["crosslink", "upload"],
]


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*words, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_encode_with_missing_secret_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "a.csv"
    export.write_text("宛名番号,氏名,生年月日\n1,高橋　太郎,2015-04-01\n", encoding="utf-8")
    assert run(["encode", str(export), "--secret", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "secret file not found" in err
    assert not list(tmp_path.glob("*.kkh"))


def test_encode_empty_file_fails_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "s.txt"
    assert run(["secret", "new", str(secret)]) == 0
    export = tmp_path / "empty.csv"
    export.write_bytes(b"")
    assert run(["encode", str(export), "--secret", str(secret)]) == 2
    assert "empty.csv" in capsys.readouterr().err
    assert not list(tmp_path.glob("empty.kkh")) and not list(tmp_path.glob("*.keys.csv"))


def test_encode_unknown_mapped_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "s.txt"
    run(["secret", "new", str(secret)])
    export = tmp_path / "a.csv"
    export.write_text("宛名番号,氏名,生年月日\n1,高橋　太郎,2015-04-01\n", encoding="utf-8")
    status = run(["encode", str(export), "--secret", str(secret), "--column", "sex=せいべつ"])
    assert status == 2
    assert "せいべつ" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.kkh"))


def test_upload_refuses_a_broken_encodings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enc = tmp_path / "x.kkh"
    enc.write_bytes(b"")
    status = run(
        [
            "upload",
            str(enc),
            "--server",
            "http://127.0.0.1:9",
            "--project",
            "p",
            "--credential",
            str(tmp_path / "missing.credential"),
        ]
    )
    assert status == 2
    assert "not an encodings file" in capsys.readouterr().err


@pytest.fixture
def encodings_file(tmp_path: Path) -> Path:
    import numpy as np

    from linkage.container import Encodings, new_ref, write_encodings

    path = tmp_path / "x.kkh"
    write_encodings(path, Encodings([new_ref()], np.zeros((1, 128), np.uint8), 1024, None))
    return path


def _upload(encodings: Path, credential: Path) -> int:
    return run(["upload", str(encodings), "--server", "http://127.0.0.1:9", "--project", "p",
                "--credential", str(credential)])  # fmt: skip


def test_upload_with_missing_credential_file(
    tmp_path: Path, encodings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _upload(encodings_file, tmp_path / "missing.credential") == 2
    assert "credential file not found" in capsys.readouterr().err


def test_upload_to_an_unreachable_server(
    tmp_path: Path, encodings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cred = tmp_path / "body.credential"
    cred.write_text("kkh_body_x\n")
    assert _upload(encodings_file, cred) == 2
    assert "cannot reach the server" in capsys.readouterr().err


def test_resolve_refs_from_a_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "k.keys.csv"
    keys.write_text("ref,record_id\n" + "a" * 32 + ",R-1\n", encoding="utf-8")
    assert run(["resolve", str(keys), "a" * 32]) == 0
    assert "R-1" in capsys.readouterr().out
    assert run(["resolve", str(keys), "b" * 32]) == 1


def _guide_block(command: str) -> list[str]:
    """The output lines the Japanese guide shows under ``> {command}``."""
    text = (Path(__file__).parents[1] / "docs" / "ja" / "03-encode.md").read_text("utf-8")
    block = text.split(f"> {command}\n", 1)[1].split("```", 1)[0]
    return block.rstrip("\n").splitlines()


def test_check_prints_exactly_what_the_japanese_guide_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`encode --check` on the guide's example: every problem row, nothing written."""
    example = Path(__file__).parents[1] / "docs" / "ja" / "examples" / "kenko_sample.csv"
    before = sorted(example.parent.iterdir())
    assert run(["encode", str(example), "--check"]) == 0
    printed = capsys.readouterr().out.rstrip("\n").splitlines()
    assert printed == _guide_block("kakehashi encode kenko_sample.csv --check")
    assert "10 data rows; 4 would be rejected (40.0%)" in printed
    assert sorted(example.parent.iterdir()) == before


def test_check_reads_a_large_export_in_chunks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Row numbers and counts stay right across chunk boundaries (8,000 rows per chunk)."""
    export = tmp_path / "big.csv"
    lines = ["宛名番号,氏名,生年月日"]
    lines += [f"{i},山田　太郎,2015-04-01" for i in range(1, 20001)]
    lines[12001] = "12001,山田　太郎,2015-02-30"  # row 12002: an impossible date
    lines[16001] = "3,山田　太郎,2015-04-01"  # row 16002: id of row 4 again
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(["encode", str(export), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "20000 data rows; 2 would be rejected (0.0%)" in printed
    assert "row 12002, column 生年月日: error: impossible date" in printed
    assert "row 16002, column 宛名番号: error: record id also on row 4" in printed


def test_upload_refuses_a_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The keys file (ref → record id) never leaves the body, even by mistake."""
    keys = tmp_path / "jumin.keys.csv"
    keys.write_text("ref,record_id\n" + "a" * 32 + ",R-1\n", encoding="utf-8")
    cred = tmp_path / "body.credential"
    cred.write_text("kkh_x\n")
    code = run(["upload", str(keys), "--server", "http://127.0.0.1:9", "--project", "p",
                "--credential", str(cred)])  # fmt: skip
    assert code == 2
    assert "never leaves the body" in capsys.readouterr().err
