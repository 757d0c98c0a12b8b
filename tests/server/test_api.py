"""API behaviour against a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pytest
from server_testdata import (
    SCHEMA,
    binary_bytes,
    bodies_data,
    encodings,
    json_bytes,
    noisy_copy,
    random_clks,
)
from server_testkit import LiveServer, wait_run

PROBLEM = "application/problem+json"


def upload(live: LiveServer, cred: str, pid: str, data: bytes, mode: str = "replace", **hdr):
    with live.client(cred) as c:
        return c.post(
            f"/api/v1/projects/{pid}/uploads",
            params={"mode": mode},
            content=data,
            headers={"Content-Type": "application/octet-stream", **hdr},
        )


def test_health_docs_metrics(live: LiveServer) -> None:
    project = live.new_project()
    body = project["credentials"]["bodies"]["school"]
    with live.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        for path in ("/docs", "/redoc"):  # no UI pulling scripts from a CDN
            assert c.get(path).status_code == 404
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/metrics").status_code == 401
    with live.client(body) as c:
        assert "/api/v1/projects/{pid}/uploads" in c.get("/openapi.json").json()["paths"]
        assert c.get("/metrics").status_code == 403
    with live.client(live.operator) as c:
        metrics = c.get("/metrics")
        assert "kakehashi_http_requests_total" in metrics.text


def test_security_headers_on_every_response(live: LiveServer) -> None:
    project = live.new_project()
    pid = project["project_id"]
    with live.client(project["credentials"]["coordinator"]) as c:
        responses = [
            c.get("/healthz"),
            c.get(f"/api/v1/projects/{pid}"),
            c.get(f"/api/v1/projects/{pid}/results/tokens"),  # 404 problem: no run yet
            c.get("/api/v1/no/such/path"),
        ]
    with live.client("kkh_wrong") as c:
        responses.append(c.get(f"/api/v1/projects/{pid}"))
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert "server" not in r.headers


def test_operator_credential_file_is_private(live: LiveServer) -> None:
    path = live.settings.data_dir / "operator.credential"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(live.operator) >= 43  # 256 bits in URL-safe base64 + prefix


def test_create_project_and_summary(live: LiveServer) -> None:
    project = live.new_project()
    pid = project["project_id"]
    assert project["schema_id"] == SCHEMA.schema_id
    assert project["threshold"] == pytest.approx(SCHEMA.default_threshold)
    creds = project["credentials"]
    with live.client(creds["coordinator"]) as c:
        summary = c.get(f"/api/v1/projects/{pid}").json()
        assert summary["bodies"] == ["school", "welfare"]
        assert summary["upload_counts"] == {"school": 0, "welfare": 0}
        assert c.get(f"/api/v1/projects/{pid}/schema").json() == SCHEMA.document
    with live.client(creds["bodies"]["school"]) as c:
        assert c.get(f"/api/v1/projects/{pid}").status_code == 200


def test_errors_are_problem_json(live: LiveServer) -> None:
    with live.client("kkh_not-a-real-credential") as c:
        r = c.get("/api/v1/projects")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)
    assert set(r.json()) >= {"type", "title", "status", "detail"}
    with live.client(live.operator) as c:
        r = c.post("/api/v1/projects", json={"name": "x", "bodies": ["only-one"]})
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
        r = c.post(
            "/api/v1/projects", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422 and "Traceback" not in r.text


def test_full_run_tokens_mapping_and_audit(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    school, welfare = bodies_data(seed=1, n_shared=30, n_own=20)
    enc_s, enc_w = encodings(school), encodings(welfare)
    r = upload(live, creds["bodies"]["school"], pid, binary_bytes(enc_s))
    assert r.status_code == 201, r.text
    assert r.json()["count"] == 50 and r.json()["duplicate"] is False
    r = upload(
        live,
        creds["bodies"]["welfare"],
        pid,
        json_bytes(enc_w),
        **{"Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text

    with live.client(creds["coordinator"]) as c:
        run = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()
        assert run["status"] == "queued"
        final = wait_run(c, pid, run["run_id"])
        assert final["status"] == "done", final
        assert final["progress"] == 1.0
        table = list(
            csv.DictReader(
                io.StringIO(
                    c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "csv"}).text
                )
            )
        )
        as_json = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    assert len(table) == 100 and len(as_json["rows"]) == 100
    assert set(table[0]) == {"token", "body", "ref"}
    token_of = {(row["body"], row["ref"]): row["token"] for row in table}
    # the 30 shared people link across bodies, everyone else is a singleton
    linked = sum(
        token_of[("school", a)] == token_of[("welfare", b)]
        for a, b in zip(enc_s.refs[:30], enc_w.refs[:30], strict=True)
    )
    assert linked == 30
    assert len(set(token_of.values())) == 30 + 20 + 20
    assert "score" not in str(as_json).lower() and "similar" not in str(as_json).lower()

    with live.client(creds["bodies"]["school"]) as c:
        mapping = c.get(f"/api/v1/projects/{pid}/results/mapping", params={"format": "json"})
        assert mapping.status_code == 200
        rows = mapping.json()["rows"]
        assert {ref for ref, _ in rows} == set(enc_s.refs)
        # the body's own per-run tokens, not the coordinator's (tests/server/test_body_view.py)
        assert len({tok for _, tok in rows}) == len(rows)
        assert not {tok for _, tok in rows} & set(token_of.values())
        assert c.get(f"/api/v1/projects/{pid}/results/tokens").status_code == 403

    with live.client(creds["coordinator"]) as c:
        entries = c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]
    actions = [e["action"] for e in entries]
    assert "results.tokens.download" in actions and "results.mapping.download" in actions
    assert "upload.stored" in actions and "run.done" in actions
    assert all(e["actor"] != "" for e in entries)

    # incremental run: the same data again keeps every token
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        again = wait_run(c, pid, rid)
        assert again["stats"]["tokens_kept"] == 70
        table2 = list(
            csv.DictReader(io.StringIO(c.get(f"/api/v1/projects/{pid}/results/tokens").text))
        )
        assert {(r["body"], r["ref"]): r["token"] for r in table2} == token_of
        assert c.get(f"/api/v1/projects/{pid}/results/events").json() == {"events": []}


def test_incremental_merge_event(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(5)
    a = random_clks(rng, 10)
    b = random_clks(rng, 10)
    enc_a = encodings(a)
    assert upload(live, creds["bodies"]["school"], pid, binary_bytes(enc_a)).status_code == 201
    assert (
        upload(live, creds["bodies"]["welfare"], pid, binary_bytes(encodings(b))).status_code == 201
    )
    with live.client(creds["coordinator"]) as c:
        wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
    # welfare now uploads copies of school's first 3 records: they merge with those tokens
    enc_b2 = encodings(np.vstack([b, a[:3]]))
    r = upload(live, creds["bodies"]["welfare"], pid, binary_bytes(enc_b2), mode="replace")
    assert r.status_code == 201
    with live.client(creds["coordinator"]) as c:
        first = {
            (x["body"], x["ref"]): x["token"]
            for x in c.get(
                f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}
            ).json()["rows"]
            for x in [dict(zip(["token", "body", "ref"], x, strict=True))]
        }
        done = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
        assert done["status"] == "done"
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    second = {(b_, r_): t for t, b_, r_ in rows["rows"]}
    for ref in enc_a.refs[:3]:  # school record kept its token; the new welfare copy joined it
        assert second[("school", ref)] == first[("school", ref)]
    for new_ref_ in enc_b2.refs[10:]:
        assert second[("welfare", new_ref_)] in {first[("school", r)] for r in enc_a.refs[:3]}


def test_upload_checks(live: LiveServer) -> None:
    project = live.new_project()
    pid, cred = project["project_id"], project["credentials"]["bodies"]["school"]
    rng = np.random.default_rng(2)
    enc = encodings(random_clks(rng, 40))
    data = binary_bytes(enc)

    first = upload(live, cred, pid, data, **{"X-Content-SHA256": hashlib.sha256(data).hexdigest()})
    assert first.status_code == 201 and first.json()["sha256"] == hashlib.sha256(data).hexdigest()
    again = upload(live, cred, pid, data, mode="append")
    assert again.json() == {**first.json(), "duplicate": True}

    bad_sum = upload(
        live,
        cred,
        pid,
        binary_bytes(encodings(random_clks(rng, 3))),
        **{"X-Content-SHA256": "0" * 64},
    )
    assert bad_sum.status_code == 422 and "X-Content-SHA256" in bad_sum.json()["detail"]

    other = "ab" * 32
    wrong_schema = upload(
        live, cred, pid, binary_bytes(encodings(random_clks(rng, 3), schema_id=other))
    )
    assert wrong_schema.status_code == 409
    assert (
        other in wrong_schema.json()["detail"] and SCHEMA.schema_id in wrong_schema.json()["detail"]
    )

    wrong_bits = upload(live, cred, pid, binary_bytes(encodings(random_clks(rng, 3, bits=512))))
    assert wrong_bits.status_code == 422 and "512" in wrong_bits.json()["detail"]

    truncated = upload(live, cred, pid, data[:-100], mode="append")
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]

    dup_refs = upload(
        live,
        cred,
        pid,
        binary_bytes(encodings(random_clks(rng, 2), refs=enc.refs[:2])),
        mode="append",
    )
    # Refs the body already stored are changed records: they replace the old versions.
    assert dup_refs.status_code == 201 and dup_refs.json()["replaced_records"] == 2

    oversize = upload(live, cred, pid, b"\0" * (live.settings.max_upload_bytes + 1))
    assert oversize.status_code == 413

    def chunks():  # no Content-Length: the limit must hold while streaming
        header = data[: len(data) // 2]
        yield header
        for _ in range(live.settings.max_upload_bytes // 65536 + 2):
            yield b"\0" * 65536

    chunked = upload(live, cred, pid, chunks())
    assert chunked.status_code == 413

    not_enc = upload(live, cred, pid, b"hello")
    assert not_enc.status_code == 422

    # none of the refused uploads changed anything (the 2 changed records replaced theirs),
    # and no temp files are left
    with live.client(cred) as c:
        assert c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]["school"] == 40
    assert list((live.settings.uploads_dir / "tmp").iterdir()) == []

    appended = upload(live, cred, pid, binary_bytes(encodings(random_clks(rng, 5))), mode="append")
    assert appended.status_code == 201
    replaced = upload(live, cred, pid, binary_bytes(encodings(random_clks(rng, 7))), mode="replace")
    assert replaced.status_code == 201
    with live.client(cred) as c:
        assert c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]["school"] == 7
    assert upload(live, cred, pid, data, mode="bogus").status_code == 422
    with live.client(cred) as c:
        r = c.post(f"/api/v1/projects/{pid}/uploads", content=data)
    assert r.status_code == 422  # the mode must be given explicitly


def test_revoked_and_reissued_credentials(live: LiveServer) -> None:
    project = live.new_project()
    pid = project["project_id"]
    old = project["credentials"]["coordinator"]
    with live.client(old) as c:  # a party rotates its own (tests/server/test_credentials_consent)
        r = c.post("/api/v1/credentials/rotate", json={})
        assert r.status_code == 201
        new = r.json()["credential"]
    with live.client(old) as c:
        assert c.get(f"/api/v1/projects/{pid}").status_code == 401
    with live.client(new) as c:
        assert c.get(f"/api/v1/projects/{pid}").status_code == 200
    body_id = project["credential_ids"]["bodies"]["school"]
    with live.client(live.operator) as c:
        assert c.delete(f"/api/v1/credentials/{body_id}").status_code == 200
    with live.client(project["credentials"]["bodies"]["school"]) as c:
        r = c.get(f"/api/v1/projects/{pid}")
        assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_expired_credential(live: LiveServer) -> None:
    project = live.new_project(expires_in_days=1e-6)  # about 0.09 s
    import time

    time.sleep(0.3)
    with live.client(project["credentials"]["coordinator"]) as c:
        r = c.get(f"/api/v1/projects/{project['project_id']}")
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_close_deletes_encodings(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(3)
    assert (
        upload(
            live, creds["bodies"]["school"], pid, binary_bytes(encodings(random_clks(rng, 5)))
        ).status_code
        == 201
    )
    files_before = set(live.settings.uploads_dir.glob("*.rec"))
    with live.client(creds["coordinator"]) as c:
        r = c.post(f"/api/v1/projects/{pid}/close", json={})
        assert r.status_code == 200 and r.json()["deleted_records"] == 5
        assert c.get(f"/api/v1/projects/{pid}").json()["status"] == "closed"
        assert c.post(f"/api/v1/projects/{pid}/runs", json={}).status_code == 409
        actions = [e["action"] for e in c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]]
    assert "encodings.deleted.close" in actions
    assert len(files_before - set(live.settings.uploads_dir.glob("*.rec"))) == 1
    r = upload(live, creds["bodies"]["school"], pid, binary_bytes(encodings(random_clks(rng, 5))))
    assert r.status_code == 409


def test_cancel_queued_run_and_run_needs_two_bodies(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        final = wait_run(c, pid, rid)
        assert final["status"] == "failed" and "two bodies" in final["error"]
        assert c.post(f"/api/v1/projects/{pid}/runs/{rid}/cancel", json={}).status_code == 409
        assert c.get(f"/api/v1/projects/{pid}/results/tokens").status_code == 404


def test_retention_deletes_old_encodings(make_live) -> None:
    live = make_live(retention_days=0.5 / 86400)  # half a second
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(4)
    assert (
        upload(
            live, creds["bodies"]["school"], pid, binary_bytes(encodings(random_clks(rng, 5)))
        ).status_code
        == 201
    )
    import time

    deadline = time.monotonic() + 10
    with live.client(creds["coordinator"]) as c:
        while c.get(f"/api/v1/projects/{pid}").json()["upload_counts"]["school"]:
            assert time.monotonic() < deadline, "retention did not delete the upload"
            time.sleep(0.2)
        actions = [e["action"] for e in c.get(f"/api/v1/projects/{pid}/audit").json()["entries"]]
    assert "encodings.deleted.retention" in actions
    assert list(live.settings.uploads_dir.glob("*.rec")) == []


def test_cancel_run_leaves_no_results(live: LiveServer) -> None:
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    school, welfare = bodies_data(seed=9, n_shared=500, n_own=500)
    assert upload(live, creds["bodies"]["school"], pid, binary_bytes(encodings(school))).is_success
    assert upload(
        live, creds["bodies"]["welfare"], pid, binary_bytes(encodings(welfare))
    ).is_success
    with live.client(creds["coordinator"]) as c:
        rid = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        cancel = c.post(f"/api/v1/projects/{pid}/runs/{rid}/cancel", json={})
        final = wait_run(c, pid, rid)
        if cancel.status_code == 409:  # the run finished before the cancel arrived
            assert final["status"] == "done"
            return
        assert cancel.status_code == 200
        assert final["status"] == "cancelled"
        assert c.get(f"/api/v1/projects/{pid}/results/tokens").status_code == 404
        # a new run can start after a cancelled one, and completes
        rid2 = c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"]
        assert wait_run(c, pid, rid2)["status"] == "done"
        assert [r["status"] for r in c.get(f"/api/v1/projects/{pid}/runs").json()] == [
            "done",
            "cancelled",
        ]


def test_twins_are_flagged_for_review_not_merged(live: LiveServer) -> None:
    """A record close to two records of another body (twins) is not merged on a coin toss."""
    project = live.new_project()
    pid, creds = project["project_id"], project["credentials"]
    rng = np.random.default_rng(11)
    base = random_clks(rng, 1)
    twins = np.vstack([noisy_copy(rng, base, 12), noisy_copy(rng, base, 12)])
    others = random_clks(rng, 20)
    school = encodings(np.vstack([twins, others]))
    welfare = encodings(np.vstack([noisy_copy(rng, base, 6), noisy_copy(rng, others, 8)]))
    assert upload(live, creds["bodies"]["school"], pid, binary_bytes(school)).status_code == 201
    assert upload(live, creds["bodies"]["welfare"], pid, binary_bytes(welfare)).status_code == 201
    with live.client(creds["coordinator"]) as c:
        done = wait_run(c, pid, c.post(f"/api/v1/projects/{pid}/runs", json={}).json()["run_id"])
        assert done["status"] == "done"
        review = c.get(f"/api/v1/projects/{pid}/results/review").json()
        rows = c.get(f"/api/v1/projects/{pid}/results/tokens", params={"format": "json"}).json()
    token_of = {(b, r): t for t, b, r in rows["rows"]}
    flagged = {item["token"] for item in review["tokens"]}
    twin_tokens = {token_of[("school", ref)] for ref in school.refs[:2]}
    assert len(twin_tokens) == 2  # the twins stay apart
    assert twin_tokens <= flagged
    assert token_of[("welfare", welfare.refs[0])] in flagged  # their rival match too
    # the clear matches are linked and not flagged
    for s_ref, w_ref in zip(school.refs[2:], welfare.refs[1:], strict=True):
        assert token_of[("school", s_ref)] == token_of[("welfare", w_ref)]
        assert token_of[("school", s_ref)] not in flagged
