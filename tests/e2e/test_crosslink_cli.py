"""Cross-municipality linkage through the CLI against a real `kakehashi serve` process.

Two small synthetic cities (each its own project, secret, bodies and coordinator), some
children of A moved to B. Coordinators propose and approve with `kakehashi crosslink`;
bodies encode with a joint secret and `kakehashi crosslink upload` re-keys to their project
refs; each coordinator's results name only its own tokens, of children who moved.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.two_cities import BODIES, _towns
from encoders.keys import read_keys
from kakehashi.cli import main
from kakehashi.demo import running_server

pytestmark = pytest.mark.slow


def kakehashi(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_two_cities_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, truth_a, truth_b, moved = _towns(120, 8, seed=3)
    towns = {"A": (a, truth_a), "B": (b, truth_b)}
    server_dir = tmp_path / "server"
    with running_server(server_dir) as url:
        projects: dict[str, str] = {}
        for name, (town, _) in towns.items():
            creds = tmp_path / name / "creds"
            assert kakehashi(
                "project", "create", "--server", url,
                "--credential", server_dir / "operator.credential", "--name", f"city {name}",
                "--out", creds, *[x for body in BODIES for x in ("--body", body)],
            ) == 0  # fmt: skip
            projects[name] = json.loads((creds / "project.json").read_text())["project_id"]
            secret = tmp_path / name / "secret.txt"
            assert kakehashi("secret", "new", secret) == 0
            exports = town.write_exports(tmp_path / name / "exports")
            for body in BODIES:
                folder = tmp_path / name / body
                folder.mkdir()
                assert kakehashi(
                    "encode", exports[body], "--secret", secret, "--out", folder / "p.kkh",
                    "--keys", folder / "p.keys.csv", "--workers", "1",
                ) == 0  # fmt: skip
                assert kakehashi(
                    "upload", folder / "p.kkh", "--server", url, "--project", projects[name],
                    "--credential", creds / f"body-{body}.credential",
                ) == 0  # fmt: skip
            coordinator = creds / "coordinator.credential"
            assert kakehashi(
                "run", "--server", url, "--project", projects[name], "--credential", coordinator
            ) == 0  # fmt: skip
            assert kakehashi(
                "results", "--server", url, "--project", projects[name],
                "--credential", coordinator, "--out", tmp_path / name / "tokens.csv",
            ) == 0  # fmt: skip

        def coord(name: str) -> Path:
            return tmp_path / name / "creds" / "coordinator.credential"

        assert kakehashi(
            "crosslink", "propose", "--server", url, "--credential", coord("A"),
            "--name", "A↔B", "--project", projects["A"], "--project", projects["B"],
            "--threshold", "0.75",
        ) == 0  # fmt: skip
        xid = capsys.readouterr().out.split("crosslink ")[1].split()[0]
        joint = tmp_path / "joint.txt"
        assert kakehashi("secret", "new", joint) == 0

        def cross_upload(name: str, body: str) -> int:
            folder = tmp_path / name / body
            return kakehashi(
                "crosslink", "upload", folder / "x.kkh", "--server", url, "--crosslink", xid,
                "--credential", tmp_path / name / "creds" / f"body-{body}.credential",
                "--keys", folder / "x.keys.csv", "--project-keys", folder / "p.keys.csv",
            )  # fmt: skip

        for name, (town, _) in towns.items():
            for body in BODIES:
                folder = tmp_path / name / body
                export = tmp_path / name / "exports" / town.bodies[body].spec.filename
                assert kakehashi(
                    "encode", export, "--secret", joint, "--out", folder / "x.kkh",
                    "--keys", folder / "x.keys.csv", "--workers", "1",
                ) == 0  # fmt: skip
        # Approved by A only: uploads and runs are refused.
        cross = ("--server", url, "--crosslink", xid)
        assert kakehashi("crosslink", "approve", *cross, "--credential", coord("A")) == 0
        assert cross_upload("A", "jumin") == 2
        assert "every member project's coordinator must approve" in capsys.readouterr().err
        assert kakehashi("crosslink", "run", *cross, "--credential", coord("A")) == 2
        assert kakehashi("crosslink", "approve", *cross, "--credential", coord("B")) == 0
        assert "承認済み" in capsys.readouterr().out
        for name in towns:
            for body in BODIES:
                assert cross_upload(name, body) == 0
        assert kakehashi("crosslink", "status", *cross, "--credential", coord("B")) == 0
        assert kakehashi("crosslink", "run", *cross, "--credential", coord("B")) == 0
        for name, (_, truth) in towns.items():
            out = tmp_path / name / "cross.csv"
            assert kakehashi(
                "crosslink", "results", *cross, "--credential", coord(name), "--out", out
            ) == 0  # fmt: skip
            assert "他自治体と連結された子ども" in capsys.readouterr().out
            with (tmp_path / name / "tokens.csv").open(encoding="utf-8") as handle:
                tokens = {(r["body"], r["ref"]): r["token"] for r in csv.DictReader(handle)}
            with out.open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            records = {
                (body, ref): rec
                for body in BODIES
                for ref, rec in read_keys(tmp_path / name / body / "p.keys.csv").items()
            }
            # Own project tokens of own records only; every linked child moved.
            assert rows and all(r["token"] == tokens[(r["body"], r["ref"])] for r in rows)
            children = {truth[(r["body"], records[(r["body"], r["ref"])])] for r in rows}
            assert children <= moved and len(children) >= len(moved) - 1
        assert kakehashi(
            "crosslink", "withdraw", *cross, "--credential", coord("B"), "--yes"
        ) == 0  # fmt: skip
        assert "取り下げ済み" in capsys.readouterr().out
