"""Reissuing credentials needs the party's consent; the operator never gets one to read
the token table or a mapping with (issue 12, item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from server_testdata import binary_bytes, encodings, random_clks
from server_testkit import LiveServer, wait_run
from typer.testing import CliRunner

API = "/api/v1"


def _project_with_results(live: LiveServer) -> dict:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(8)
    for body in ("school", "welfare"):
        with live.client(creds["bodies"][body]) as c:
            r = c.post(
                f"{API}/projects/{pid}/uploads",
                params={"mode": "replace"},
                content=binary_bytes(encodings(random_clks(rng, 5))),
            )
            assert r.status_code == 201, r.text
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"{API}/projects/{pid}/runs", json={}).json()["run_id"]
        assert wait_run(c, pid, rid)["status"] == "done"
    return project


def _can_read(live: LiveServer, cred: str, pid: str) -> dict[str, int]:
    with live.client(cred) as c:
        return {
            "tokens": c.get(f"{API}/projects/{pid}/results/tokens").status_code,
            "mapping": c.get(f"{API}/projects/{pid}/results/mapping").status_code,
        }


def test_operator_cannot_reissue_or_read(live: LiveServer) -> None:
    project = _project_with_results(live)
    pid, creds = project["project_id"], project["credentials"]
    with live.client(live.operator) as c:
        for payload in (
            {"role": "coordinator"},
            {"role": "body", "body": "school"},
        ):
            r = c.post(f"{API}/projects/{pid}/credentials", json=payload)
            assert r.status_code in (403, 422), r.text
            assert "kkh_" not in r.text
        r = c.post(f"{API}/projects/{pid}/credentials/recovery", json={})
        assert r.status_code == 403 and "kkh_" not in r.text
        r = c.post(f"{API}/projects/{pid}/credentials/recover", json={})
        assert r.status_code == 403 and "kkh_" not in r.text
        # rotating its own credential gives the operator an operator credential, nothing more
        rotated = c.post(f"{API}/credentials/rotate", json={})
    assert rotated.status_code == 201 and rotated.json()["role"] == "operator"
    new_operator = rotated.json()["credential"]
    assert _can_read(live, new_operator, pid) == {"tokens": 403, "mapping": 403}
    with live.client(live.operator) as c:  # the old operator credential is revoked
        assert c.get(f"{API}/projects").status_code == 401
    live.operator = new_operator
    # nothing was revoked by the refused attempts: the parties still read their results
    assert _can_read(live, creds["coordinator"], pid)["tokens"] == 200
    assert _can_read(live, creds["bodies"]["school"], pid)["mapping"] == 200


def test_coordinator_reissues_a_body_credential(live: LiveServer) -> None:
    project = _project_with_results(live)
    pid, creds = project["project_id"], project["credentials"]
    with live.client(creds["coordinator"]) as c:
        r = c.post(f"{API}/projects/{pid}/credentials", json={"role": "body", "body": "school"})
        assert r.status_code == 201, r.text
        assert (
            c.post(f"{API}/projects/{pid}/credentials", json={"body": "nobody"}).status_code == 422
        )
        entries = c.get(f"{API}/projects/{pid}/audit").json()["entries"]
    new = r.json()["credential"]
    assert _can_read(live, new, pid)["mapping"] == 200
    assert _can_read(live, creds["bodies"]["school"], pid)["mapping"] == 401
    assert _can_read(live, creds["bodies"]["welfare"], pid)["mapping"] == 200
    reissued = [e for e in entries if e["action"] == "credential.reissued"]
    assert reissued and reissued[-1]["actor"].startswith("coordinator:")
    assert reissued[-1]["detail"]["body"] == "school"


def test_parties_rotate_their_own(live: LiveServer) -> None:
    project = _project_with_results(live)
    pid, creds = project["project_id"], project["credentials"]
    for old in (creds["coordinator"], creds["bodies"]["welfare"]):
        with live.client(old) as c:
            r = c.post(f"{API}/credentials/rotate", json={})
        assert r.status_code == 201
        new = r.json()["credential"]
        with live.client(old) as c:
            assert c.get(f"{API}/projects/{pid}").status_code == 401
        with live.client(new) as c:
            assert c.get(f"{API}/projects/{pid}").status_code == 200


def test_coordinator_recovery_code_is_one_time(live: LiveServer) -> None:
    project = _project_with_results(live)
    pid, creds = project["project_id"], project["credentials"]
    code = creds["recovery"]
    assert _can_read(live, code, pid) == {"tokens": 403, "mapping": 403}
    with live.client(code) as c:
        r = c.post(f"{API}/projects/{pid}/credentials/recover", json={})
        assert r.status_code == 201, r.text
        again = c.post(f"{API}/projects/{pid}/credentials/recover", json={})
    assert again.status_code == 401  # used up
    recovered = r.json()
    assert recovered["revoked"] == 1
    assert _can_read(live, creds["coordinator"], pid)["tokens"] == 401
    assert _can_read(live, recovered["credential"], pid)["tokens"] == 200
    with live.client(recovered["recovery_code"]) as c:  # the new code works once more
        assert c.post(f"{API}/projects/{pid}/credentials/recover", json={}).status_code == 201


def test_take_over_revokes_everything_the_creator_saw(live: LiveServer, tmp_path: Path) -> None:
    """The operator created the project and saw its credentials: after the coordinator's
    take-over, none of them reads anything."""
    from kakehashi.cli import _build

    app = _build()
    folder = tmp_path / "credentials"
    operator_file = tmp_path / "operator.credential"
    operator_file.write_text(live.operator)  # (another test here rotated the first one)
    result = CliRunner().invoke(
        app,
        ["project", "create", "--name", "p", "--body", "school", "--body", "welfare",
         "--server", live.url, "--credential", str(operator_file), "--out", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    pid = json.loads((folder / "project.json").read_text())["project_id"]
    assert "kkh_" not in (folder / "project.json").read_text()
    seen = {p.name: p.read_text().strip() for p in folder.glob("*.credential")}
    seen["coordinator.recovery"] = (folder / "coordinator.recovery").read_text().strip()
    assert len(seen) == 4
    result = CliRunner().invoke(
        app, ["credentials", "take-over", "--server", live.url, "--project", pid,
              "--dir", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "kkh_" not in result.output
    for name, old in seen.items():
        new = (folder / name).read_text().strip()
        assert new != old and (folder / name).stat().st_mode & 0o777 == 0o600
        with live.client(old) as c:
            assert c.get(f"{API}/projects/{pid}").status_code == 401, name
    with live.client((folder / "coordinator.credential").read_text().strip()) as c:
        assert c.get(f"{API}/projects/{pid}").status_code == 200
    with live.client((folder / "body-school.credential").read_text().strip()) as c:
        assert c.get(f"{API}/projects/{pid}").status_code == 200
