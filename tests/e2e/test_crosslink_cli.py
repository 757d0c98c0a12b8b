"""`kakehashi crosslink` against a real `kakehashi serve` process.

Two cities (projects with two bodies each, their own secrets); some children of A's
school are in B's school too. Coordinators propose and approve through the CLI; bodies
upload joint-secret encodings with `crosslink upload`, which re-keys them to the refs of
their project uploads from the two keys files; each coordinator's results hold its own
project tokens of the children who link to the other city, nothing of the other city.
(The whole chain with real exports and `kakehashi encode` is `benchmarks/two_cities.py`.)
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from apiclient import ApiClient
from kakehashi.cli import main
from kakehashi.demo import running_server
from linkage.container import Encodings, new_ref, write_encodings
from linkage.schema import default_schema

pytestmark = pytest.mark.slow

SCHEMA = default_schema()
MOVERS = 5


def kakehashi(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _clks(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.packbits(rng.random((n, SCHEMA.bit_length)) < 0.25, axis=1)


def _noisy(rng: np.random.Generator, clks: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(clks, axis=1)
    for row in bits:
        row[rng.choice(bits.shape[1], 8, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def _write(folder: Path, name: str, clks: np.ndarray, ids: list[str], fp: str) -> Path:
    """Encodings with fresh refs and their keys file (ref → record id), as `encode` does."""
    refs = [new_ref() for _ in ids]
    write_encodings(
        folder / f"{name}.kkh", Encodings(refs, clks, SCHEMA.bit_length, SCHEMA.schema_id, fp)
    )
    lines = "".join(f"{r},{i}\n" for r, i in zip(refs, ids, strict=True))
    (folder / f"{name}.keys.csv").write_text("ref,record_id\n" + lines, encoding="utf-8")
    return folder / f"{name}.kkh"


def test_crosslink_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    movers = _clks(rng, MOVERS)
    data: dict[str, dict[str, np.ndarray]] = {}
    for city in ("A", "B"):
        shared = _clks(rng, 10)
        first = movers if city == "A" else _noisy(rng, movers)
        data[city] = {
            "school": np.vstack([first, shared, _clks(rng, 6)]),
            "welfare": np.vstack([_noisy(rng, shared), _clks(rng, 6)]),
        }
    server_dir = tmp_path / "server"
    with running_server(server_dir) as url:
        operator = (server_dir / "operator.credential").read_text().strip()
        creds: dict[str, dict] = {}
        tokens: dict[str, dict[tuple[str, str], str]] = {}
        for city, fp in (("A", "AAAA-0000-0000-0001"), ("B", "BBBB-0000-0000-0002")):
            with ApiClient(url, operator) as op:
                creds[city] = op.create_project(
                    {"name": city, "bodies": ["school", "welfare"], "threshold": 0.8}
                )
            pid = creds[city]["project_id"]
            (tmp_path / city).mkdir()
            for body, clks in data[city].items():
                ids = [f"{city}-{body}-{i}" for i in range(len(clks))]
                path = _write(tmp_path / city, f"{body}.project", clks, ids, fp)
                _write(tmp_path / city, f"{body}.cross", clks, ids, "1234-5678-9ABC-DEF0")
                with ApiClient(url, creds[city]["credentials"]["bodies"][body]) as client:
                    client.upload(pid, path)
            coordinator = tmp_path / city / "coordinator.credential"
            coordinator.write_text(creds[city]["credentials"]["coordinator"] + "\n")
            for body in data[city]:
                secret = creds[city]["credentials"]["bodies"][body]
                (tmp_path / city / f"{body}.credential").write_text(secret + "\n")
            assert kakehashi(
                "run", "--server", url, "--project", pid, "--credential", coordinator
            ) == 0  # fmt: skip
            out = tmp_path / city / "tokens.csv"
            assert kakehashi(
                "results", "--server", url, "--project", pid, "--credential", coordinator,
                "--out", out,
            ) == 0  # fmt: skip
            with out.open(encoding="utf-8") as handle:
                tokens[city] = {(r["body"], r["ref"]): r["token"] for r in csv.DictReader(handle)}

        def coord(city: str) -> Path:
            return tmp_path / city / "coordinator.credential"

        assert kakehashi(
            "crosslink", "propose", "--server", url, "--credential", coord("A"), "--name", "A↔B",
            "--project", creds["A"]["project_id"], "--project", creds["B"]["project_id"],
        ) == 0  # fmt: skip
        xid = capsys.readouterr().out.split("crosslink ")[1].split()[0]
        cross = ("--server", url, "--crosslink", xid)

        def cross_upload(city: str, body: str) -> int:
            folder = tmp_path / city
            return kakehashi(
                "crosslink", "upload", folder / f"{body}.cross.kkh", *cross,
                "--credential", folder / f"{body}.credential",
                "--keys", folder / f"{body}.cross.keys.csv",
                "--project-keys", folder / f"{body}.project.keys.csv",
            )  # fmt: skip

        # Approved by A only: uploads and runs are refused.
        assert kakehashi("crosslink", "approve", *cross, "--credential", coord("A")) == 0
        assert cross_upload("A", "school") == 2
        assert "every member project's coordinator must approve" in capsys.readouterr().err
        assert kakehashi("crosslink", "run", *cross, "--credential", coord("A")) == 2
        assert kakehashi("crosslink", "approve", *cross, "--credential", coord("B")) == 0
        assert "承認済み" in capsys.readouterr().out
        for city in ("A", "B"):
            for body in ("school", "welfare"):
                assert cross_upload(city, body) == 0
        assert kakehashi("crosslink", "status", *cross, "--credential", coord("B")) == 0
        assert kakehashi("crosslink", "run", *cross, "--credential", coord("B")) == 0
        links: dict[str, set[str]] = {}
        for city in ("A", "B"):
            out = tmp_path / city / "cross.csv"
            assert kakehashi(
                "crosslink", "results", *cross, "--credential", coord(city), "--out", out
            ) == 0  # fmt: skip
            assert f"他自治体と連結された子ども: {MOVERS} 人" in capsys.readouterr().out
            with out.open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            # The movers' own school rows, with this city's own project tokens.
            assert len(rows) == MOVERS and {r["body"] for r in rows} == {"school"}
            assert all(r["token"] == tokens[city][("school", r["ref"])] for r in rows)
            other = "B" if city == "A" else "A"
            assert not {r["ref"] for r in rows} & {ref for _, ref in tokens[other]}
            links[city] = {r["link"] for r in rows}
        assert links["A"] == links["B"]
        assert kakehashi(
            "crosslink", "withdraw", *cross, "--credential", coord("B"), "--yes"
        ) == 0  # fmt: skip
        assert "取り下げ済み" in capsys.readouterr().out
