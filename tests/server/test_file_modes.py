"""The data folder is private: folders 0700, database, WAL/SHM, uploads and logs 0600
(issue 12, item 3), checked on a real server process started with umask 022."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from server_process import ServerProcess, backend_param
from server_testdata import binary_bytes, bodies_data, encodings
from server_testkit import wait_run


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from backend_param(request.param)


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    out["."] = stat.S_IMODE(root.stat().st_mode)
    return out


def test_data_folder_and_files_are_private(tmp_path: Path, db_url: str | None) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    log_file = logs / "server.log"
    proc = ServerProcess(data, db_url, tmp_path / "stdout.log", "--log-file", str(log_file))
    proc.start()
    try:
        with proc.client(proc.operator) as c:
            project = c.post("/api/v1/projects", json={"name": "p", "bodies": ["a", "b"]}).json()
        pid, creds = project["project_id"], project["credentials"]
        for name, clks in zip(("a", "b"), bodies_data(5, 20, 10), strict=True):
            with proc.client(creds["bodies"][name]) as c:
                r = c.post(
                    f"/api/v1/projects/{pid}/uploads",
                    params={"mode": "append"},
                    content=binary_bytes(encodings(clks)),
                )
                assert r.status_code == 201, r.text
        with proc.client(creds["coordinator"]) as c:
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
            assert wait_run(c, pid, rid)["status"] == "done"
            assert c.get(f"/api/v1/projects/{pid}/results/tokens").status_code == 200
        modes = _modes(data)  # while the server runs: WAL and SHM exist
    finally:
        proc.stop()
    recs = [name for name in modes if name.endswith(".rec")]
    assert len(recs) == 2
    expected_files = ["operator.credential", *recs]
    if db_url is None:
        expected_files += ["kakehashi.db", "kakehashi.db-wal", "kakehashi.db-shm"]
    for name in expected_files:
        assert modes.get(name) == 0o600, (name, oct(modes.get(name, 0)))
    for name in (".", "uploads", os.path.join("uploads", "tmp")):
        assert modes[name] == 0o700, (name, oct(modes[name]))
    loose = {n: oct(m) for n, m in modes.items() if m & 0o077}
    assert not loose, f"readable by group or others: {loose}"
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert b'"msg": "request"' in log_file.read_bytes()  # the logs went to the file


def test_an_older_world_readable_installation_is_repaired(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "uploads", 0o755)
    stale = data / "uploads" / "old.rec"
    stale.write_bytes(np.zeros(16, np.uint8).tobytes())
    os.chmod(stale, 0o644)
    proc = ServerProcess(data, None, tmp_path / "stdout.log")
    proc.start()
    proc.stop()
    modes = _modes(data)
    assert modes["."] == 0o700 and modes["uploads"] == 0o700
    assert modes[os.path.join("uploads", "old.rec")] == 0o600
    assert not {n: oct(m) for n, m in modes.items() if m & 0o077}


def test_secure_tree_leaves_links_and_their_targets_alone(tmp_path: Path) -> None:
    from server.core.files import secure_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("x")
    os.chmod(outside, 0o755)
    os.chmod(outside / "f", 0o644)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "g").write_text("y")
    os.chmod(data / "sub" / "g", 0o644)
    (data / "link-dir").symlink_to(outside)
    (data / "link-file").symlink_to(outside / "f")
    secure_tree(data)
    assert stat.S_IMODE((data / "sub" / "g").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "sub").stat().st_mode) == 0o700
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755
    assert stat.S_IMODE((outside / "f").stat().st_mode) == 0o644
