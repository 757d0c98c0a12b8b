"""The FastAPI application: ``create_app(settings)`` is the only constructor."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.deps import AUDIT_SCOPE_KEY, AnyParty, Operator
from server.api.routes import (
    audit_log,
    coordinator_overview,
    credentials,
    crosslinks,
    family,
    projects,
    results,
    review_outcomes,
    runs,
    signals,
    support_audit,
    uploads,
)
from server.core import audit
from server.core.anchor import key_id, load_or_create_key
from server.core.config import Settings
from server.core.files import private_dir, secure_sqlite, secure_tree
from server.core.logging import configure_logging
from server.core.problems import install_problem_handlers
from server.core.ratelimit import AuthFailureLimiter
from server.credentials import ensure_operator_credential
from server.crosslink_runs import requeue_interrupted_cross
from server.db.migrate import upgrade
from server.db.models import AuditHead
from server.db.session import make_engine, make_sessionmaker
from server.housekeeping import Checkpointer, Housekeeper, flush_auth_failures
from server.worker import Worker, requeue_interrupted

_log = logging.getLogger("kakehashi.server")


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kakehashi_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kakehashi_http_request_seconds",
            "HTTP request duration by route template",
            ["route"],
            registry=self.registry,
        )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class AuditAndLogMiddleware:
    """Appends an audit entry for every request that presented a credential, logs and counts.

    Logs hold the method, route template, status, duration and actor id only: never
    bodies, query strings or credentials.
    """

    def __init__(self, app: ASGIApp, *, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[AUDIT_SCOPE_KEY] = {}
        status = {"code": 500}
        started = time.perf_counter()

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            note: dict[str, Any] = dict(scope.get(AUDIT_SCOPE_KEY) or {})
            metrics: _Metrics = self.owner.state.metrics
            metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            metrics.latency.labels(route).observe(elapsed)
            actor = note.pop("actor", None)
            project_id = note.pop("project_id", None)
            action = note.pop("action", "http.request")
            if actor is not None:
                client = scope.get("client")
                detail = {
                    "method": scope["method"],
                    "route": route,
                    "status": status["code"],
                    "client": client[0] if client else "unknown",
                    **note,
                }
                await anyio.to_thread.run_sync(
                    lambda: audit.append_request_entry(
                        self.owner.state.sessionmaker,
                        actor=actor,
                        action=action,
                        project_id=project_id,
                        detail=detail,
                    )
                )
            _log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status["code"],
                    "duration_ms": round(elapsed * 1000, 1),
                    "actor": actor,
                },
            )


SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every response.

    Every response of this server is either an error, a credential-bound JSON/CSV answer or
    a download of tokens: none may be cached (``no-store``), sniffed as another type, framed
    or given a referrer. The ``server`` header is switched off in uvicorn itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, _send)


def _initialise(app: FastAPI, settings: Settings) -> None:
    # Data folder 0700, every file in it 0600 (also repairs an older installation).
    secure_tree(settings.data_dir)
    private_dir(settings.uploads_dir)
    tmp = private_dir(settings.uploads_dir / "tmp")
    for leftover in tmp.iterdir():  # a crashed upload's files: never part of any upload
        leftover.unlink(missing_ok=True)
    url = settings.resolved_database_url
    secure_sqlite(url)
    upgrade(url)
    engine = make_engine(url, busy_timeout_seconds=settings.sqlite_busy_timeout_seconds)
    factory = make_sessionmaker(engine)
    with factory() as session, session.begin():
        if session.get(AuditHead, 1) is None:
            session.add(AuditHead(id=1, seq=0, hash=audit.GENESIS))
    path = ensure_operator_credential(factory, settings.data_dir)
    if path is None:
        _log.info(
            "operator credential exists",
            extra={"path": str(settings.data_dir / "operator.credential")},
        )
    requeue_interrupted(factory)
    requeue_interrupted_cross(factory)
    app.state.engine = engine
    app.state.sessionmaker = factory
    limiter: AuthFailureLimiter = app.state.auth_limiter
    duties: list[Callable[[bool], object]] = [
        lambda final: flush_auth_failures(factory, limiter, everything=final)
    ]
    if settings.audit_key_file is not None and settings.checkpoint_dir is not None:
        key = load_or_create_key(settings.audit_key_file, settings.data_dir)
        duties.append(
            Checkpointer(
                factory,
                key,
                settings.checkpoint_dir,
                every_entries=settings.audit_checkpoint_every_entries,
                every_seconds=settings.audit_checkpoint_every_minutes * 60,
            )
        )
        _log.info(
            "audit checkpoints on",
            extra={"key_id": key_id(key.public_key()), "folder": str(settings.checkpoint_dir)},
        )
    else:
        _log.warning("audit checkpoints off: set audit_key_file to anchor the audit log")
    app.state.housekeeper = Housekeeper(duties)
    app.state.housekeeper.start()
    app.state.worker = None
    if settings.run_worker:
        worker = Worker(factory, settings)
        worker.start()
        app.state.worker = worker


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the linkage server app. Migrations, the operator credential and the worker
    start in the lifespan (i.e. when the server starts)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(_initialise, app, settings)
        _log.info("server ready", extra={"database": settings.resolved_database_url.split(":")[0]})
        try:
            yield
        finally:
            if app.state.worker is not None:
                await anyio.to_thread.run_sync(app.state.worker.stop)
            await anyio.to_thread.run_sync(app.state.housekeeper.stop)
            app.state.engine.dispose()

    app = FastAPI(
        title="Kakehashi linkage server",
        version="1",
        lifespan=lifespan,
        # No Swagger UI / ReDoc: they load scripts from a public CDN, which a closed
        # municipal network cannot reach and which should not run on this origin. The
        # schema itself is served below to any holder of a credential.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = _Metrics()
    app.state.auth_limiter = AuthFailureLimiter(
        burst=settings.auth_failure_burst,
        per_minute=settings.auth_failure_per_minute,
        collapse_seconds=settings.auth_failure_audit_seconds,
        max_clients=settings.auth_limiter_max_clients,
    )
    install_problem_handlers(app)
    # Routes are added directly (not via include_router) so that ``app.routes`` lists every
    # APIRoute with its full path, for the role-matrix test and metrics labels.
    for module in (
        projects, credentials, uploads, runs, results, signals, audit_log, support_audit,
        review_outcomes, coordinator_overview, crosslinks, family,
    ):  # fmt: skip
        app.router.routes.extend(module.router.routes)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics(principal: Operator) -> Response:
        """Prometheus metrics (request counts and latencies); operator credential only."""
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema(principal: AnyParty) -> JSONResponse:
        """The OpenAPI schema, for any holder of a credential (e.g. API testing tools)."""
        return JSONResponse(app.openapi())

    app.add_middleware(AuditAndLogMiddleware, owner=app)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def api_routes(app: FastAPI) -> list[APIRoute]:
    """The app's API routes (for the role matrix test and documentation)."""
    return [r for r in app.routes if isinstance(r, APIRoute)]
