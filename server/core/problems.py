"""RFC 9457 problem details: one exception type and the handlers that render it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
#: Seconds a client is asked to wait after a 503 "database busy" before it tries again.
BUSY_RETRY_AFTER_SECONDS = 2
_log = logging.getLogger("kakehashi.server")


class Problem(Exception):
    """An error shown to the client as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        kind: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or title.lower().replace(" ", "-")
        self.headers = headers


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    kind: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "type": f"https://kakehashi.invalid/problems/{kind or title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def is_database_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (SQLITE_BUSY past the timeout)."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error, including unexpected ones, as problem+json without a trace."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.kind, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP error")
        return problem_response(exc.status_code, title, str(exc.detail or ""))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return problem_response(422, "Invalid request", "; ".join(parts), "invalid-request")

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (PostgreSQL: NUL in text, a text
        # longer than its column). Input checks should catch these first; this is the net.
        _log.warning("database refused a request value", extra={"error_type": "DataError"})
        return problem_response(
            422,
            "Invalid value",
            "a value in the request cannot be stored (too long, or a NUL character)",
            "invalid-value",
        )

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        # SQLite: another writer held the lock past the busy timeout. The transaction was
        # rolled back and nothing was stored; the request can be sent again as it is.
        if is_database_locked(exc):
            _log.warning("database busy", extra={"error_type": "OperationalError"})
            return problem_response(
                503,
                "Database busy",
                "the database is busy with other writes; nothing was stored, try again in "
                f"{BUSY_RETRY_AFTER_SECONDS} seconds",
                "database-busy",
                {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            )
        _log.error("unhandled error", extra={"error_type": type(exc).__name__})
        return problem_response(500, "Internal Server Error", "an unexpected error occurred")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        _log.error("unhandled error", extra={"error_type": type(exc).__name__})
        return problem_response(500, "Internal Server Error", "an unexpected error occurred")
