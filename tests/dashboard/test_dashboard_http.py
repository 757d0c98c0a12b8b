"""The dashboard's security properties over plain HTTP, against a real server and dashboard.

Login with the credential (and key passphrase), the session cookie's flags, CSRF on every
state-changing form, Cache-Control: no-store on every response, the Host check, and the
command's refusal to listen anywhere but 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from dashboard_testkit import LiveDashboard, config_for, start_dashboard
from demo_project import DemoProject

from apiclient import ApiClient
from kakehashi.cli import main

POSTS = ("/runs/start", "/runs/" + "0" * 32 + "/cancel", "/review/record", "/support/export")
PAGES = ("/", "/runs", "/runs/progress", "/summary", "/review", "/support", "/audit")


@pytest.fixture(scope="module")
def dash(demo: DemoProject) -> Iterator[LiveDashboard]:
    live = start_dashboard(config_for(demo))
    try:
        yield live
    finally:
        live.stop()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def login(c: httpx.Client, demo: DemoProject, passphrase: str | None = None) -> httpx.Response:
    page = c.get("/login")
    return c.post(
        "/login",
        data={
            "csrf_token": _csrf(page.text),
            "credential": demo.credential,
            "passphrase": demo.passphrase if passphrase is None else passphrase,
        },
    )


def _runs(demo: DemoProject) -> list:
    with ApiClient(demo.url, demo.credential) as api:
        return api.get_json(f"/projects/{demo.project}/runs")


def test_pages_need_a_login(dash: LiveDashboard) -> None:
    with dash.client() as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
        r = c.get("/runs/progress", headers={"HX-Request": "true"})
        assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
        for path in POSTS:
            assert c.post(path, data={}).status_code == 303, path
        assert c.get("/login").status_code == 200


def test_login_cookie_is_httponly_samesite_strict_and_rotated(
    dash: LiveDashboard, demo: DemoProject
) -> None:
    with dash.client() as c:
        first = c.get("/login")
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        before = c.cookies["kakehashi_dashboard"]
        r = login(c, demo)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and re.search("samesite=strict", cookie, re.I)
        assert "secure" not in cookie.lower() or "127.0.0.1" in dash.url  # plain http on loopback
        assert c.cookies["kakehashi_dashboard"] != before  # a fresh session id after login
        assert c.get("/").status_code == 200
        # the id from before the login is worthless
        with dash.client(cookies={"kakehashi_dashboard": before}) as old:
            assert old.get("/").status_code == 303


def test_wrong_credential_or_passphrase_is_refused(dash: LiveDashboard, demo: DemoProject) -> None:
    with dash.client() as c:
        page = c.get("/login")
        r = c.post(
            "/login",
            data={"csrf_token": _csrf(page.text), "credential": "nope", "passphrase": "x"},
        )
        assert r.status_code == 401 and "認証情報が正しくありません" in r.text
        r = login(c, demo, passphrase="wrong passphrase")
        assert r.status_code == 401 and "パスフレーズが違う" in r.text
        assert c.get("/").status_code == 303
        # the login form itself is CSRF-protected
        r = c.post("/login", data={"credential": demo.credential, "passphrase": demo.passphrase})
        assert r.status_code == 403
        assert c.get("/").status_code == 303


def test_every_state_changing_form_checks_the_csrf_token(
    dash: LiveDashboard, demo: DemoProject
) -> None:
    runs_before = _runs(demo)
    with dash.client() as c:
        assert login(c, demo).status_code == 303
        token = _csrf(c.get("/runs").text)
        for path in POSTS:
            assert c.post(path, data={}).status_code == 403, path
            assert c.post(path, data={"csrf_token": "x" + token[1:]}).status_code == 403, path
            r = c.post(
                path,
                data={"csrf_token": token},
                headers={"Origin": "http://evil.example"},
            )
            assert r.status_code == 403, path
        r = c.post("/logout", data={})
        assert r.status_code == 403 and c.get("/").status_code == 200
        assert _runs(demo) == runs_before  # nothing was started or cancelled
        # with the token (form field or htmx header) it goes through
        r = c.post("/logout", headers={"X-CSRF-Token": token})
        assert r.status_code == 303 and c.get("/").status_code == 303


def test_every_response_says_no_store(dash: LiveDashboard, demo: DemoProject) -> None:
    with dash.client() as c:
        responses = [c.get("/login"), c.get("/static/htmx.min.js"), c.get("/nowhere"), c.get("/")]
        responses.append(c.post("/runs/start", data={}))
        responses.append(login(c, demo))
        responses += [c.get(p) for p in PAGES]
        responses.append(c.post("/runs/start", data={}))
        responses.append(c.get("/", headers={"Host": "evil.example"}))
    for r in responses:
        assert r.headers["cache-control"] == "no-store", (r.request.url, r.status_code)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"


def test_other_host_names_are_refused(dash: LiveDashboard) -> None:
    with dash.client() as c:
        assert c.get("/login", headers={"Host": "evil.example"}).status_code == 400
        port = dash.config.port
        assert c.get("/login", headers={"Host": f"localhost:{port}"}).status_code == 200


def test_the_command_refuses_other_hosts(demo: DemoProject, capsys: pytest.CaptureFixture) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(SystemExit) as exit_info:
            main(
                [
                    "dashboard", "--server", demo.url, "--project", demo.project,
                    "--credential", str(demo.coordinator), "--host", host, "--no-open",
                ]
            )  # fmt: skip
        assert exit_info.value.code == 2
        assert "127.0.0.1 only" in capsys.readouterr().err


def test_five_failed_logins_in_a_row_block_the_next_try(demo: DemoProject) -> None:
    live = start_dashboard(config_for(demo))
    try:
        with live.client() as c:
            for _ in range(5):
                assert login(c, demo, passphrase="wrong").status_code == 401
            r = login(c, demo)  # even the right answers wait now
            assert r.status_code == 429 and "秒お待ちください" in r.text
            assert c.get("/").status_code == 303
    finally:
        live.stop()


def test_sessions_end_when_idle_or_too_old() -> None:
    from coordinator.dashboard.sessions import IDLE_SECONDS, MAX_SECONDS, SessionStore

    clock = [1000.0]
    store = SessionStore(now=lambda: clock[0])
    idle = store.new()
    clock[0] += IDLE_SECONDS - 1
    assert store.get(idle.id) is idle  # a request keeps it alive
    clock[0] += IDLE_SECONDS + 1
    assert store.get(idle.id) is None
    busy = store.new()
    for _ in range(int(MAX_SECONDS // (IDLE_SECONDS / 2)) + 1):
        clock[0] += IDLE_SECONDS / 2
        store.get(busy.id)
    assert store.get(busy.id) is None  # at most 8 hours, however busy
    assert store.get(None) is None and store.get("forged") is None
