"""End to end: a real `kakehashi serve` process, driven over HTTP through the CLI.

Checks precision and recall on a small synthetic municipality, that a body credential
cannot read the coordinator's token table, and that no input name, reading or birth date
reaches the server's data folder (database, uploads, logs).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from encoders.keys import read_keys
from kakehashi.cli import main
from kakehashi.demo import running_server
from kakehashi.evaluation import read_token_table, score
from synthetic import generate

pytestmark = pytest.mark.slow


def kakehashi(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _personal_values(exports: dict[str, Path]) -> set[str]:
    """Names, readings and birth dates as the bodies exported them (canaries)."""
    from encoders.readers import open_table

    values: set[str] = set()
    for path in exports.values():
        with open_table(path) as table:
            wanted = [
                i
                for i, h in enumerate(table.headers)
                if h in ("氏名", "氏", "名", "氏名_フリガナ", "生年月日")
            ]
            for _, cells in table:
                for i in wanted:
                    value = cells[i].strip()
                    if len(value) >= 2 and not all(c in "0123456789abcdef" for c in value):
                        values.add(value)
                    values.update(p for p in value.split("\u3000") if len(p) >= 2)
    return values


_HEX = frozenset("0123456789abcdef")


def _occurs(value: str, data: bytes) -> bool:
    """``value`` stored in ``data``. A canary made only of hex digits (a birth date written
    as digits, e.g. 和暦 ``5011104``) also turns up by chance inside the random hex of refs
    and tokens (it failed one clean-clone CI run of three so), so it counts only where it is
    not part of a longer run of hex digits: a stored field, not a piece of a random ref."""
    raw = value.encode("utf-8")
    if not set(value) <= _HEX:
        return raw in data
    return re.search(b"(?<![0-9a-f])" + re.escape(raw) + b"(?![0-9a-f])", data) is not None


def test_whole_workflow_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    municipality = generate(400, seed=7)
    exports = municipality.write_exports(tmp_path / "exports")
    truth_path = tmp_path / "truth.csv"
    municipality.write_truth(truth_path)
    bodies = list(exports)
    assert len(bodies) >= 4

    server_dir = tmp_path / "server"
    with running_server(server_dir) as url:
        creds = tmp_path / "creds"
        assert kakehashi(
            "project", "create", "--server", url,
            "--credential", server_dir / "operator.credential",
            "--name", "e2e", "--out", creds, *[a for b in bodies for a in ("--body", b)],
        ) == 0  # fmt: skip
        project = json.loads((creds / "project.json").read_text())["project_id"]
        secret = tmp_path / "secret.txt"
        assert kakehashi("secret", "new", secret) == 0
        for body, path in exports.items():
            (tmp_path / body).mkdir()
            enc = tmp_path / body / "enc.kkh"
            assert kakehashi(
                "encode", path, "--secret", secret, "--out", enc,
                "--keys", tmp_path / body / "keys.csv", "--workers", "1",
            ) == 0  # fmt: skip
            assert kakehashi(
                "upload", enc, "--server", url, "--project", project,
                "--credential", creds / f"body-{body}.credential",
            ) == 0  # fmt: skip

        coordinator = creds / "coordinator.credential"
        assert (
            kakehashi("run", "--server", url, "--project", project, "--credential", coordinator)
            == 0
        )
        tokens = tmp_path / "tokens.csv"

        def results(credential: Path, out: Path, *flags: str) -> int:
            return kakehashi("results", *flags, "--server", url, "--project", project,
                             "--credential", credential, "--out", out)  # fmt: skip

        assert results(coordinator, tokens) == 0

        # (b) a body's credential cannot read the coordinator's token table ...
        capsys.readouterr()
        stolen = tmp_path / "stolen.csv"
        status = results(creds / f"body-{bodies[0]}.credential", stolen)
        assert status == 2
        assert "403" in capsys.readouterr().err
        assert not stolen.exists()
        # ... but can read its own mapping, which covers every one of its records.
        mapping = tmp_path / "mapping.csv"
        assert results(creds / f"body-{bodies[0]}.credential", mapping, "--mine") == 0
        with mapping.open(encoding="utf-8") as handle:
            mapped = {row["ref"] for row in csv.DictReader(handle)}
        assert mapped == set(read_keys(tmp_path / bodies[0] / "keys.csv"))

    # (a) precision and recall against the generator's truth
    with truth_path.open(encoding="utf-8") as handle:
        truth = {(r["body"], r["record_id"]): r["person_id"] for r in csv.DictReader(handle)}
    keys = {body: read_keys(tmp_path / body / "keys.csv") for body in bodies}
    rows = read_token_table(tokens)
    assert len(rows) == sum(len(k) for k in keys.values())  # every record has a token
    result = score(rows, keys, truth)
    assert result.true_pairs > 100
    assert result.precision >= 0.95, result
    assert result.recall >= 0.85, result

    # (c) no personal data in the server's database, uploads or logs
    canaries = _personal_values(exports)
    assert len(canaries) > 200
    server_files = [p for p in server_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in server_files)
    assert any(p.name.endswith(".log") for p in server_files)
    for path in server_files:
        data = path.read_bytes()
        leaked = [v for v in canaries if _occurs(v, data)]
        assert not leaked, f"{path.name} contains personal data: {leaked[:3]}"
