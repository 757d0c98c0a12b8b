"""Role × endpoint matrix, generated from ``app.routes``: every API route needs a rule here."""

from __future__ import annotations

import pytest
from server_testkit import LiveServer

from server.core.config import Settings
from server.main import api_routes, create_app

PUBLIC = "public"
# (method, path) -> roles allowed. A new route without a rule makes the test fail.
RULES: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): {PUBLIC},
    ("GET", "/metrics"): {"operator"},
    ("GET", "/openapi.json"): {"operator", "coordinator", "body"},
    ("POST", "/api/v1/projects"): {"operator"},
    ("GET", "/api/v1/projects"): {"operator"},
    ("GET", "/api/v1/projects/{pid}"): {"coordinator", "body"},
    ("GET", "/api/v1/projects/{pid}/schema"): {"coordinator", "body"},
    ("POST", "/api/v1/projects/{pid}/close"): {"coordinator", "operator"},
    ("POST", "/api/v1/projects/{pid}/credentials"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/credentials/recovery"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/credentials/recover"): {"recovery"},
    ("POST", "/api/v1/credentials/rotate"): {"operator", "coordinator", "body"},
    ("DELETE", "/api/v1/credentials/{cid}"): {"operator"},
    ("POST", "/api/v1/projects/{pid}/uploads"): {"body"},
    ("POST", "/api/v1/projects/{pid}/uploads/deletions"): {"body"},
    ("POST", "/api/v1/projects/{pid}/runs"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/runs"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/runs/{rid}"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/runs/{rid}/cancel"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/results/tokens"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/results/mapping"): {"body"},
    ("GET", "/api/v1/projects/{pid}/results/events"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/results/review"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/audit"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/review/outcomes"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/review/outcomes"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/overview"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/support-lists"): {"coordinator"},
    ("PUT", "/api/v1/projects/{pid}/signals/catalogue"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/signals/catalogue"): {"coordinator", "body"},
    ("PUT", "/api/v1/projects/{pid}/signals/key"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/signals/key"): {"coordinator", "body"},
    ("POST", "/api/v1/projects/{pid}/signals"): {"body"},
    ("GET", "/api/v1/projects/{pid}/signals/status"): {"coordinator"},
    ("GET", "/api/v1/projects/{pid}/signals/rows"): {"coordinator"},
    ("POST", "/api/v1/crosslinks"): {"operator", "coordinator"},
    ("GET", "/api/v1/crosslinks"): {"operator", "coordinator", "body"},
    ("GET", "/api/v1/crosslinks/{xid}"): {"operator", "coordinator", "body"},
    ("POST", "/api/v1/crosslinks/{xid}/approve"): {"coordinator"},
    ("POST", "/api/v1/crosslinks/{xid}/withdraw"): {"coordinator"},
    ("POST", "/api/v1/crosslinks/{xid}/uploads"): {"body"},
    ("POST", "/api/v1/crosslinks/{xid}/runs"): {"coordinator"},
    ("GET", "/api/v1/crosslinks/{xid}/runs/{rid}"): {"coordinator"},
    ("GET", "/api/v1/crosslinks/{xid}/results"): {"coordinator"},
    ("POST", "/api/v1/projects/{pid}/family"): {"body"},
    ("GET", "/api/v1/projects/{pid}/results/family"): {"coordinator"},
}
ROLES = ("operator", "coordinator", "body", "recovery")


def _endpoints() -> list[tuple[str, str]]:
    app = create_app(Settings(run_worker=False))
    return sorted((m, r.path) for r in api_routes(app) for m in r.methods if m != "HEAD")


def test_every_route_has_a_rule() -> None:
    missing = [e for e in _endpoints() if e not in RULES]
    assert not missing, f"routes without a role rule: {missing}"
    stale = [e for e in RULES if e not in _endpoints()]
    assert not stale, f"rules for routes that no longer exist: {stale}"


def test_role_matrix(live: LiveServer) -> None:
    ours = live.new_project()
    other = live.new_project()
    pid = ours["project_id"]
    creds = {
        "operator": live.operator,
        "coordinator": ours["credentials"]["coordinator"],
        "body": ours["credentials"]["bodies"]["school"],
        "recovery": ours["credentials"]["recovery"],
    }
    foreign = {
        "coordinator": other["credentials"]["coordinator"],
        "body": other["credentials"]["bodies"]["school"],
        "recovery": other["credentials"]["recovery"],
    }
    params = {"pid": pid, "rid": "0" * 32, "cid": "0" * 32, "xid": "0" * 32}
    checked = 0
    for method, template in _endpoints():
        allowed = RULES[(method, template)]
        path = template.format(**params)
        query = {"mode": "append"} if path.endswith("/uploads") else {}
        if PUBLIC in allowed:
            continue
        with live.client() as c:
            r = c.request(method, path, params=query, json={})
        assert r.status_code == 401, (method, template, "no credential", r.status_code)
        for role in ROLES:
            if role in allowed:
                continue
            with live.client(creds[role]) as c:
                r = c.request(method, path, params=query, json={})
            assert r.status_code == 403, (method, template, role, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            checked += 1
        for role in set(foreign) & allowed:
            if "{pid}" not in template:
                continue
            with live.client(foreign[role]) as c:
                r = c.request(method, path, params=query, json={})
            assert r.status_code == 404, (method, template, f"other project's {role}", r.text)
            checked += 1
    assert checked > 20
    # nothing the refused calls attempted happened: the project is still open and empty
    with live.client(creds["coordinator"]) as c:
        summary = c.get(f"/api/v1/projects/{pid}").json()
    assert summary["status"] == "open" and summary["upload_counts"] == {"school": 0, "welfare": 0}


@pytest.mark.parametrize("role", ["coordinator", "body"])
def test_credentials_never_stored_in_clear(live: LiveServer, role: str) -> None:
    from sqlalchemy import create_engine, text

    project = live.new_project()
    secret = (
        project["credentials"]["coordinator"]
        if role == "coordinator"
        else project["credentials"]["bodies"]["school"]
    )
    engine = create_engine(live.settings.resolved_database_url)
    with engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(text("select secret_hash from credentials"))]
        dump = " ".join(
            str(v)
            for table in ("credentials", "audit_log", "projects")
            for row in conn.execute(text(f"select * from {table}"))
            for v in row
        )
    engine.dispose()
    import hashlib

    assert hashlib.sha256(secret.encode()).hexdigest() in hashes
    assert secret not in dump and live.operator not in dump
