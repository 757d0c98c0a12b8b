"""The demo with signals: the support list finds every planted child that linkage
connected; no department alone finds any; rule names and results never reach the server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakehashi.demo import run_demo

pytestmark = pytest.mark.slow


def test_support_list_finds_every_connected_planted_child(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    summary = run_demo(workdir, children=200, seed=11)
    assert summary["planted"] >= 6
    assert summary["planted_connected"] >= summary["planted"] - 2
    assert summary["planted_connected_not_found"] == 0
    assert summary["planted_found"] >= summary["planted_connected"]
    assert summary["planted_found_alone"] == 0  # each rule needs two departments
    assert summary["listed"] >= summary["planted_found"]

    support = workdir / "coordinator" / "support-list.csv"
    assert support.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = support.read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) - 1 == summary["listed"]

    # Nothing of the list, the rule names or the decrypted values is on the server.
    canaries = [
        b"\xe6\x9c\xaa\xe5\xb0\xb1\xe5\x9c\x92",
        "複数の困難".encode(),
        b'kenshin_mijushin":true',
    ]
    for path in (workdir / "server").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for canary in canaries:
                assert canary not in data, (path, canary)
