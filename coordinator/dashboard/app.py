"""The coordinator's dashboard: a Starlette app served on 127.0.0.1 of the coordinator's machine.

Pages (Japanese): 概要 (overview), 照合の実行 (runs), 照合結果の概要 (linkage summary),
確認待ち (review queue), 支援候補リスト (support list), 監査ログ (audit log). Everything
comes from the linkage server's API through ``apiclient`` with the coordinator's
credential; signals are decrypted here with the coordinator's private key. Nothing is
written to disk: sessions, the token table and the support list live in this process's
memory only and are gone when it stops.

Security (see docs/threat-model.md, "The coordinator's dashboard"): a login page asks for
the coordinator's credential (and the key passphrase when a key is configured); the
session cookie is HttpOnly and SameSite=Strict; every POST carries the session's CSRF token
(form field or ``X-CSRF-Token`` header) and a foreign ``Origin`` is refused; the Host header
must name 127.0.0.1 or localhost on our port (DNS rebinding); every response carries
``Cache-Control: no-store`` and a strict Content-Security-Policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiclient import ApiClient, ApiError, read_credential
from coordinator.dashboard import words
from coordinator.dashboard.aggregates import DEFAULT_K, shown, summarise
from coordinator.dashboard.auditcheck import check_entries
from coordinator.dashboard.charts import bar_chart, heat_matrix, upset
from coordinator.dashboard.sessions import COOKIE, Session, SessionStore

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # not "no-referrer": with it browsers send "Origin: null" on our own form posts
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ACTIVE = ("queued", "running")
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0〜2歳", 0, 2),
    ("3〜5歳", 3, 5),
    ("6〜11歳", 6, 11),
    ("12〜14歳", 12, 14),
    ("15〜17歳", 15, 17),
    ("18歳以上", 18, 200),
)


@dataclass(frozen=True)
class DashboardConfig:
    """How the dashboard was started (``kakehashi dashboard``)."""

    server: str
    project: str
    credential_file: Path
    key_file: Path | None = None
    rules_file: Path | None = None
    k: int = DEFAULT_K
    port: int = 8765

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"the small-cell bound k must be at least 1, got {self.k}")


class Guard:
    """Host check and security headers on every response (static files included)."""

    def __init__(self, app: ASGIApp, *, port: int) -> None:
        self.app = app
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        if host not in self.hosts:
            response = PlainTextResponse("unknown host: open the dashboard on 127.0.0.1", 400)
            await response(scope, receive, _send)
            return
        await self.app(scope, receive, _send)


def _iso_local(value: str | None) -> str:
    """An ISO time from the server as local date and time (minutes)."""
    if not value:
        return "—"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def _days_left(value: str | None) -> int | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).days


def _short(token: str) -> str:
    return token[:8]


class Dashboard:
    """The app's state and handlers."""

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.store = SessionStore()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.filters["when"] = _iso_local
        env.filters["short"] = _short
        env.filters["sup"] = lambda n: shown(int(n), 0 < int(n) < config.k, config.k)
        env.globals.update(
            RUN_STATUS=words.RUN_STATUS, OUTCOME=words.OUTCOME, ROLE=words.ROLE, ACTION=words.ACTION
        )
        self.pid = config.project

    # -- plumbing ---------------------------------------------------------------------------
    def session_of(self, request: Request) -> Session | None:
        return self.store.get(request.cookies.get(COOKIE))

    def render(
        self, request: Request, name: str, session: Session | None, status: int = 200, **ctx: Any
    ) -> Response:
        flash = session.cache.pop("flash", []) if session is not None else []
        context = {
            "session": session,
            "csrf": session.csrf if session is not None else "",
            "flash": flash,
            "project_name": session.cache.get("project_name", "") if session else "",
            "project_id": self.pid,
            "k": self.config.k,
            **ctx,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    @staticmethod
    def flash(session: Session, kind: str, text: str, detail: str | None = None) -> None:
        session.cache.setdefault("flash", []).append(
            {"kind": kind, "text": text, "detail": detail if detail != text else None}
        )

    def flash_error(self, session: Session, exc: Exception) -> None:
        self.flash(session, "error", words.plain(str(exc)), str(exc))

    async def csrf_form(self, request: Request, session: Session) -> dict[str, str] | None:
        """The posted form if the CSRF token and Origin check out, else None."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{request.headers.get('host')}":
            return None
        form = await request.form()
        token = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not isinstance(token, str) or not session.csrf_ok(token):
            return None
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def page(self, handler: Callable[[Request, Session], Awaitable[Response]]) -> Callable:
        """Wrap a handler that needs a logged-in session."""

        async def endpoint(request: Request) -> Response:
            session = self.session_of(request)
            if session is None or not session.logged_in:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                return RedirectResponse("/login", status_code=303)
            return await handler(request, session)

        return endpoint

    def action(self, handler: Callable[[Request, Session, dict[str, str]], Awaitable[Response]]):
        """Wrap a state-changing POST: logged in and CSRF checked."""

        async def endpoint(request: Request) -> Response:
            session = self.session_of(request)
            if session is None or not session.logged_in:
                return RedirectResponse("/login", status_code=303)
            form = await self.csrf_form(request, session)
            if form is None:
                return PlainTextResponse("CSRF check failed: reload the page and try again", 403)
            return await handler(request, session, form)

        return endpoint

    async def api(self, session: Session, method: str, path: str, body: Any = None) -> Any:
        client: ApiClient = session.client
        if method == "GET":
            return await run_in_threadpool(client.get_json, path)
        return await run_in_threadpool(client.post_json, path, body)

    # -- login ------------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is not None and session.logged_in:
            return RedirectResponse("/", status_code=303)
        if session is None:
            session = self.store.new()
        response = self.render(
            request, "login.html", session, needs_key=self.config.key_file is not None
        )
        self._set_cookie(response, session)
        return response

    def _set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE, session.id, httponly=True, samesite="strict", secure=False, path="/"
        )

    async def login(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        form = await self.csrf_form(request, session)
        if form is None:
            return PlainTextResponse("CSRF check failed: reload the page and try again", 403)
        needs_key = self.config.key_file is not None

        def fail(text: str) -> Response:
            self.store.login_failed()
            return self.render(request, "login.html", session, 401, needs_key=needs_key, error=text)

        wait = self.store.login_blocked()
        if wait:
            return self.render(
                request,
                "login.html",
                session,
                429,
                needs_key=needs_key,
                error=f"ログインの失敗が続いたため、{int(wait) + 1} 秒お待ちください。",
            )
        typed = form.get("credential", "").strip()
        expected = read_credential(self.config.credential_file)
        if not typed or not hmac.compare_digest(typed.encode(), expected.encode()):
            return fail("認証情報が正しくありません。")
        key = None
        if needs_key:
            from coordinator.keys import load_private_key
            from linkage.errors import LinkageError

            try:
                key = await run_in_threadpool(
                    load_private_key, self.config.key_file, form.get("passphrase", "")
                )
            except LinkageError as exc:
                return fail(words.plain(str(exc)))
        client = ApiClient(self.config.server, expected, timeout=60)
        try:
            project = await run_in_threadpool(client.get_json, f"/projects/{self.pid}")
        except ApiError as exc:
            client.close()
            return fail(words.plain(str(exc)))
        self.store.login_succeeded()
        self.store.drop(session.id)
        fresh = self.store.new()
        fresh.client = client
        fresh.private_key = key
        fresh.cache["project_name"] = project.get("name", "")
        response = RedirectResponse("/", status_code=303)
        self._set_cookie(response, fresh)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.session_of(request)
        if session is not None:
            form = await self.csrf_form(request, session)
            if form is None:
                return PlainTextResponse("CSRF check failed: reload the page and try again", 403)
            self.store.drop(session.id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- 1 overview -------------------------------------------------------------------------
    async def overview(self, request: Request, session: Session) -> Response:
        pid = self.pid
        try:
            project = await self.api(session, "GET", f"/projects/{pid}")
            info = await self.api(session, "GET", f"/projects/{pid}/overview")
        except ApiError as exc:
            return self.render(request, "error.html", session, 502, problem=exc, nav="overview")
        try:
            signals = await self.api(session, "GET", f"/projects/{pid}/signals/status")
        except ApiError:
            signals = None
        session.cache["project_name"] = project.get("name", "")
        uploads: dict[str, list[dict[str, Any]]] = {b: [] for b in project["bodies"]}
        for u in info["uploads"]:
            uploads.setdefault(u["body"], []).append(u)
        sig_body = {b["body"]: b for b in (signals or {}).get("bodies", [])}
        creds = []
        for c in info["credentials"]:
            days = _days_left(c["expires_at"])
            creds.append({**c, "days_left": days, "soon": days is not None and days < 30})
        local_fp = None
        if session.private_key is not None:
            from coordinator.keys import fingerprint_of

            local_fp = fingerprint_of(session.private_key.public_key())
        secret_fps = sorted(
            {u["secret_fingerprint"] for u in info["uploads"] if u.get("secret_fingerprint")}
        )
        bodies = [
            {
                "name": b,
                "records": project["upload_counts"].get(b, 0),
                "uploads": uploads.get(b, []),
                "last": uploads[b][-1]["created_at"] if uploads.get(b) else None,
                "signals": sig_body.get(b),
            }
            for b in project["bodies"]
        ]
        return self.render(
            request,
            "overview.html",
            session,
            nav="overview",
            project=project,
            info=info,
            bodies=bodies,
            creds=creds,
            signals=signals,
            local_fp=local_fp,
            secret_fps=secret_fps,
        )

    # -- 2 runs -----------------------------------------------------------------------------
    async def _runs(self, session: Session) -> list[dict[str, Any]]:
        return await self.api(session, "GET", f"/projects/{self.pid}/runs")

    async def runs(self, request: Request, session: Session) -> Response:
        try:
            runs = await self._runs(session)
        except ApiError as exc:
            return self.render(request, "error.html", session, 502, problem=exc, nav="runs")
        active = [r for r in runs if r["status"] in ACTIVE]
        for r in runs:
            r["plain_error"] = words.plain(r["error"]) if r.get("error") else None
        return self.render(
            request,
            "runs.html",
            session,
            nav="runs",
            runs=runs,
            queue=active,
            history=[r for r in runs if r["status"] not in ACTIVE],
            current=active[-1] if active else None,
        )

    async def run_progress(self, request: Request, session: Session) -> Response:
        watched = request.query_params.get("watch")
        try:
            runs = await self._runs(session)
        except ApiError as exc:
            return self.render(request, "_progress.html", session, run=None, problem=exc)
        by_id = {r["run_id"]: r for r in runs}
        if watched and watched in by_id and by_id[watched]["status"] not in ACTIVE:
            # the run we were watching has finished: reload the page for the new history
            return Response(status_code=200, headers={"HX-Refresh": "true"})
        active = [r for r in runs if r["status"] in ACTIVE]
        return self.render(request, "_progress.html", session, run=active[-1] if active else None)

    async def start_run(self, request: Request, session: Session, form: dict) -> Response:
        try:
            started = await self.api(session, "POST", f"/projects/{self.pid}/runs")
            self.flash(session, "ok", f"照合を開始しました（{_short(started['run_id'])}）。")
        except ApiError as exc:
            self.flash_error(session, exc)
        return RedirectResponse("/runs", status_code=303)

    async def cancel_run(self, request: Request, session: Session, form: dict) -> Response:
        rid = request.path_params["rid"]
        try:
            await self.api(session, "POST", f"/projects/{self.pid}/runs/{rid}/cancel")
            self.flash(session, "ok", f"照合 {_short(rid)} の取り消しを依頼しました。")
        except ApiError as exc:
            self.flash_error(session, exc)
        return RedirectResponse("/runs", status_code=303)

    # -- token table (kept in memory per latest run) ------------------------------------------
    async def _latest_done(self, session: Session) -> dict[str, Any] | None:
        runs = await self._runs(session)
        done = [r for r in runs if r["status"] == "done"]
        return done[0] if done else None

    async def tokens(self, session: Session) -> tuple[dict[str, Any] | None, list[list[str]]]:
        latest = await self._latest_done(session)
        if latest is None:
            return None, []
        cached = session.cache.get("tokens")
        if cached is None or cached[0] != latest["run_id"]:
            table = await self.api(
                session, "GET", f"/projects/{self.pid}/results/tokens?format=json"
            )
            cached = (latest["run_id"], table["rows"])
            session.cache["tokens"] = cached
        return latest, cached[1]

    # -- 3 summary --------------------------------------------------------------------------
    async def summary(self, request: Request, session: Session) -> Response:
        try:
            latest, rows = await self.tokens(session)
            project = await self.api(session, "GET", f"/projects/{self.pid}")
            flagged = (
                await self.api(session, "GET", f"/projects/{self.pid}/results/review")
                if latest
                else {"tokens": []}
            )
        except ApiError as exc:
            return self.render(request, "error.html", session, 502, problem=exc, nav="summary")
        if latest is None:
            return self.render(request, "summary.html", session, nav="summary", latest=None)
        k = self.config.k
        s = summarise(rows, project["bodies"], [t["token"] for t in flagged["tokens"]], k)
        sizes = [(f"{n} 機関", cell) for n, cell in s.by_bodies]
        return self.render(
            request,
            "summary.html",
            session,
            nav="summary",
            latest=latest,
            s=s,
            bars=bar_chart(sizes, "記録のある機関の数ごとのグループ数", k),
            matrix=heat_matrix(s.bodies, s.overlap, "機関どうしの重なり（共通のグループ数）"),
            upset_chart=upset(s.bodies, s.intersections, "機関の組み合わせごとのグループ数", k),
        )

    # -- 4 review ---------------------------------------------------------------------------
    async def review(self, request: Request, session: Session) -> Response:
        try:
            latest, rows = await self.tokens(session)
            if latest is None:
                return self.render(request, "review.html", session, nav="review", latest=None)
            flagged = await self.api(session, "GET", f"/projects/{self.pid}/results/review")
            outcomes = await self.api(session, "GET", f"/projects/{self.pid}/review/outcomes")
        except ApiError as exc:
            return self.render(request, "error.html", session, 502, problem=exc, nav="review")
        tokens = [t["token"] for t in flagged["tokens"]]
        wanted = set(tokens)
        records: dict[str, list[tuple[str, str]]] = {t: [] for t in tokens}
        for token, body, ref in rows:
            if token in wanted:
                records[token].append((body, ref))
        answered: dict[tuple[str, str], dict[str, Any]] = {}
        for o in outcomes["outcomes"]:
            for part in o["parts"]:
                for rec in part:
                    answered[(rec["body"], rec["ref"])] = o
        groups = []
        for token in tokens:
            recs = sorted(records[token])
            found = [answered[r] for r in recs if r in answered]
            groups.append(
                {
                    "token": token,
                    "records": recs,
                    "bodies": sorted({b for b, _ in recs}),
                    "outcome": found[-1] if found else None,
                    "why": (
                        "この記録には、別の機関の中に同じくらい似た候補が複数ありました"
                        "（双子など）。機械では決めずに、人の確認を待っています。"
                        if len(recs) == 1
                        else "このグループの記録には、ほぼ同じくらい似た別の候補がありました"
                        "（双子など）。結び付きが正しいか、人の確認を待っています。"
                    ),
                }
            )
        open_groups = [g for g in groups if g["outcome"] is None]
        done_groups = [g for g in groups if g["outcome"] is not None]
        return self.render(
            request,
            "review.html",
            session,
            nav="review",
            latest=latest,
            groups=open_groups,
            done_groups=done_groups,
            all_tokens=tokens,
            history=list(reversed(outcomes["outcomes"]))[:50],
        )

    async def record_outcome(self, request: Request, session: Session, form: dict) -> Response:
        token = form.get("token", "")
        outcome = form.get("outcome", "")
        if outcome not in words.OUTCOME:
            self.flash(session, "error", "確認結果（同一人物・別人・確認できず）を選んでください。")
            return RedirectResponse(f"/review#g-{token[:8]}", status_code=303)
        tokens = [token] + ([form["with_token"]] if form.get("with_token") else [])
        body: dict[str, Any] = {"outcome": outcome, "tokens": tokens}
        chosen = {k: v for k, v in form.items() if k.startswith("part-")}
        if outcome == "split" and chosen and len(tokens) == 1:
            body["parts"] = self._parts(session, token, chosen)
        try:
            await self.api(session, "POST", f"/projects/{self.pid}/review/outcomes", body)
            self.flash(
                session,
                "ok",
                f"{_short(token)} の確認結果「{words.OUTCOME[outcome]}」を記録しました。"
                "次の照合から反映されます。",
            )
        except ApiError as exc:
            self.flash_error(session, exc)
        return RedirectResponse("/review", status_code=303)

    @staticmethod
    def _parts(session: Session, token: str, chosen: dict[str, str]) -> list[list[dict]] | None:
        """The records of ``token`` grouped by the part number chosen for each (the
        review page lists them in sorted order as ``part-0``, ``part-1`` …)."""
        cached = session.cache.get("tokens")
        if cached is None:
            return None
        records = sorted((b, r) for t, b, r in cached[1] if t == token)
        parts: dict[str, list[dict]] = {}
        for i, (body, ref) in enumerate(records):
            parts.setdefault(chosen.get(f"part-{i}", f"own-{i}"), []).append(
                {"body": body, "ref": ref}
            )
        return list(parts.values())

    # -- 5 support list ---------------------------------------------------------------------
    async def _support(self, session: Session) -> tuple[Any, Any, Any]:
        """(SignalTable, RuleSet, SupportList) for the latest run, cached in memory."""
        from coordinator.rules import load_rules
        from coordinator.signals import fetch_signals
        from coordinator.support import build_support_list

        latest = await self._latest_done(session)
        if latest is None:
            raise ApiError("no run of this project has finished yet")
        rules_path = self.config.rules_file
        stamp = (latest["run_id"], rules_path.stat().st_mtime_ns if rules_path else 0)
        cached = session.cache.get("support")
        if cached is None or cached[0] != stamp:
            table = await run_in_threadpool(
                fetch_signals, session.client, self.pid, session.private_key
            )
            rules = await run_in_threadpool(load_rules, rules_path, table.catalogue)
            support = build_support_list(table, rules, date.today())
            cached = (stamp, table, rules, support)
            session.cache["support"] = cached
        return cached[1], cached[2], cached[3]

    @staticmethod
    def _filters(source: Any) -> dict[str, str]:
        return {k: str(source.get(k, "") or "") for k in ("rule", "body", "signal", "age")}

    @staticmethod
    def _filtered(table: Any, rules: Any, support: Any, f: dict[str, str]) -> list[Any]:
        from coordinator.rules import age_on

        by_token: dict[str, set[str]] = {}
        birth: dict[str, list[str]] = {}
        for s in table.signals:
            by_token.setdefault(s.token, set()).add(s.code)
            if rules.birth_code and s.code == rules.birth_code and isinstance(s.value, str):
                birth.setdefault(s.token, []).append(s.value)
        band = next((b for b in AGE_BANDS if b[0] == f["age"]), None)
        out = []
        for row in support.rows:
            if f["rule"] and f["rule"] not in row.rules:
                continue
            if f["body"] and f["body"] not in row.refs:
                continue
            if f["signal"] and f["signal"] not in by_token.get(row.token, set()):
                continue
            if band is not None:
                ages = [age_on(v, support.reference_date) for v in birth.get(row.token, [])]
                if not any(band[1] <= a <= band[2] for a in ages):
                    continue
            out.append(row)
        return out

    async def support(self, request: Request, session: Session) -> Response:
        missing = []
        if self.config.key_file is None:
            missing.append("--key（調整担当の秘密鍵）")
        if self.config.rules_file is None:
            missing.append("--rules（支援候補の抽出規則）")
        if missing:
            return self.render(request, "support.html", session, nav="support", missing=missing)
        f = self._filters(request.query_params)
        try:
            table, rules, support = await self._support(session)
        except (ApiError, ValueError) as exc:
            return self.render(
                request, "support.html", session, nav="support", problem=exc,
                plain=words.plain(str(exc)),
            )  # fmt: skip
        rows = self._filtered(table, rules, support, f)
        return self.render(
            request,
            "support.html",
            session,
            nav="support",
            support=support,
            rules=rules,
            rows=rows,
            f=f,
            bodies=sorted({b for _, b, _ in table.tokens}),
            signals=table.catalogue.signals,
            ages=[b[0] for b in AGE_BANDS],
            labels=support.labels,
        )

    async def support_export(self, request: Request, session: Session, form: dict) -> Response:
        if self.config.key_file is None or self.config.rules_file is None:
            return RedirectResponse("/support", status_code=303)
        f = self._filters(form)
        try:
            table, rules, support = await self._support(session)
        except (ApiError, ValueError) as exc:
            self.flash_error(session, exc)
            return RedirectResponse("/support", status_code=303)
        rows = self._filtered(table, rules, support, f)
        part = dataclasses.replace(support, rows=rows)  # the filtered rows, same facts
        # The export is recorded on the server before the file is handed out: no record,
        # no file. Only the facts of the list travel, never its content.
        try:
            await self.api(
                session, "POST", f"/projects/{self.pid}/support-lists", part.audit_summary()
            )
        except ApiError as exc:
            self.flash_error(session, exc)
            return RedirectResponse("/support", status_code=303)
        with tempfile.TemporaryDirectory(prefix="kakehashi-dashboard-") as tmp:
            path = part.write_csv(Path(tmp) / "support.csv")
            data = path.read_bytes()
        name = f"shien-kouho-{date.today():%Y%m%d}.csv"
        return Response(
            data,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- 6 audit ----------------------------------------------------------------------------
    async def audit(self, request: Request, session: Session) -> Response:
        entries: list[dict[str, Any]] = []
        after = 0
        try:
            while True:
                page = await self.api(
                    session, "GET", f"/projects/{self.pid}/audit?after={after}&limit=10000"
                )
                entries.extend(page["entries"])
                if len(page["entries"]) < 10000:
                    break
                after = page["entries"][-1]["seq"]
        except ApiError as exc:
            return self.render(request, "error.html", session, 502, problem=exc, nav="audit")
        check = check_entries(entries, self.pid)
        q = request.query_params
        f = {
            "action": q.get("action", ""),
            "role": q.get("role", ""),
            "since": q.get("since", ""),
            "until": q.get("until", ""),
            "http": q.get("http", ""),
        }
        shown = []
        for e in reversed(entries):
            role = e["actor"].split(":", 1)[0]
            if e["action"] == "http.request" and not f["http"]:
                continue
            if f["action"] and e["action"] != f["action"]:
                continue
            if f["role"] and role != f["role"]:
                continue
            day = e["ts"][:10]
            if f["since"] and day < f["since"]:
                continue
            if f["until"] and day > f["until"]:
                continue
            shown.append({**e, "role": role})
        limit = 300
        return self.render(
            request,
            "audit.html",
            session,
            nav="audit",
            check=check,
            entries=shown[:limit],
            total=len(shown),
            limit=limit,
            f=f,
            actions=sorted({e["action"] for e in entries}),
        )


def create_app(config: DashboardConfig) -> Starlette:
    """The dashboard app for one project (served by ``kakehashi dashboard``)."""
    dash = Dashboard(config)
    routes = [
        Route("/login", dash.login_page, methods=["GET"]),
        Route("/login", dash.login, methods=["POST"]),
        Route("/logout", dash.logout, methods=["POST"]),
        Route("/", dash.page(dash.overview), methods=["GET"]),
        Route("/runs", dash.page(dash.runs), methods=["GET"]),
        Route("/runs/progress", dash.page(dash.run_progress), methods=["GET"]),
        Route("/runs/start", dash.action(dash.start_run), methods=["POST"]),
        Route("/runs/{rid:str}/cancel", dash.action(dash.cancel_run), methods=["POST"]),
        Route("/summary", dash.page(dash.summary), methods=["GET"]),
        Route("/review", dash.page(dash.review), methods=["GET"]),
        Route("/review/record", dash.action(dash.record_outcome), methods=["POST"]),
        Route("/support", dash.page(dash.support), methods=["GET"]),
        Route("/support/export", dash.action(dash.support_export), methods=["POST"]),
        Route("/audit", dash.page(dash.audit), methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            dash.store.close_all()  # forget every session, its token table and its key

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.dashboard = dash
    app.add_middleware(Guard, port=config.port)
    return app
