"""Request dependencies: the database session, the caller's credential and role checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.core.config import Settings
from server.core.problems import Problem
from server.core.security import hash_credential
from server.db.models import Credential, Project, Run

AUDIT_SCOPE_KEY = "kakehashi.audit"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller.

    Attributes:
        credential_id: public id of the credential used.
        role: ``operator``, ``coordinator``, ``body`` or ``recovery`` (a coordinator's
            one-time recovery code: it may only recover the coordinator credential).
        project_id: the project a coordinator or body credential belongs to.
        body: the body name of a body credential.
    """

    credential_id: str
    role: str
    project_id: str | None
    body: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.credential_id}"


def get_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessionmaker


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
FactoryDep = Annotated[sessionmaker[Session], Depends(get_factory)]


def audit_note(request: Request, **fields: Any) -> None:
    """Add fields to the audit entry the middleware writes for this request."""
    request.scope.setdefault(AUDIT_SCOPE_KEY, {}).update(fields)


def _as_aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy on 127.0.0.1: from its X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def _refuse(request: Request, client: str, reason: str, actor: str, *, limited: bool) -> Problem:
    """Count a failed authentication; audit it now if it opens a burst (else collapsed)."""
    if request.app.state.auth_limiter.failure(client, reason, limited=limited):
        audit_note(request, actor=actor, action="auth.failed", outcome=reason, client=client)
    if reason == "no-credential":
        return Problem(401, "Unauthorized", "a bearer credential is required", "unauthorized")
    return Problem(401, "Unauthorized", reason, "unauthorized")


def authenticate(request: Request) -> Principal:
    """Resolve the bearer credential; 401 when missing, unknown, revoked or expired, 429
    while the caller's address has failed too often (``server.core.ratelimit``)."""
    client = client_address(request)
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _refuse(request, client, "no-credential", "anonymous", limited=False)
    limiter = request.app.state.auth_limiter
    wait = limiter.retry_after(client)
    if wait is not None:
        if limiter.failure(client, "rate-limited", limited=False):
            audit_note(
                request, actor="anonymous", action="auth.failed", outcome="rate-limited",
                client=client,
            )  # fmt: skip
        raise Problem(
            429,
            "Too Many Requests",
            f"too many failed authentications from this address; retry after {wait} s",
            "rate-limited",
            headers={"Retry-After": str(wait)},
        )
    with request.app.state.sessionmaker() as session:
        cred = session.execute(
            select(Credential).where(Credential.secret_hash == hash_credential(secret.strip()))
        ).scalar()
    now = datetime.now(UTC)
    reason = None
    if cred is None:
        reason = "unknown credential"
    elif cred.revoked_at is not None:
        reason = "credential revoked"
    elif cred.expires_at is not None and _as_aware(cred.expires_at) <= now:
        reason = "credential expired"
    if reason is not None or cred is None:
        actor = f"invalid:{cred.id}" if cred else "anonymous"
        raise _refuse(request, client, reason or "unknown credential", actor, limited=True)
    principal = Principal(cred.id, cred.role, cred.project_id, cred.body)
    audit_note(request, actor=principal.actor, project_id=principal.project_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: str) -> Callable[..., Principal]:
    """Dependency: the caller must have one of ``roles`` (403 otherwise)."""

    def _check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise Problem(
                403,
                "Forbidden",
                f"this action needs the role {' or '.join(roles)}",
                "forbidden",
            )
        return principal

    _check.roles = roles  # type: ignore[attr-defined]
    return _check


_ID = re.compile(r"[0-9a-f]{32}")


def is_id(value: str) -> bool:
    """Whether ``value`` can be one of the server's ids (``new_id``: 32 lower-case hex).

    Checked before any lookup, so that a path id with a NUL byte or of any length is a plain
    404 on every backend (PostgreSQL refuses NUL in text with an error).
    """
    return _ID.fullmatch(value) is not None


def project_for(session: Session, principal: Principal, pid: str, *, lock: bool = False) -> Project:
    """The project ``pid`` if the caller may see it; 404 otherwise (no existence leak)."""
    if (principal.role != "operator" and principal.project_id != pid) or not is_id(pid):
        raise Problem(404, "Not Found", "no such project", "not-found")
    stmt = select(Project).where(Project.id == pid)
    if lock:
        stmt = stmt.with_for_update()
    project = session.execute(stmt).scalar()
    if project is None:
        raise Problem(404, "Not Found", "no such project", "not-found")
    return project


Operator = Annotated[Principal, Depends(require_roles("operator"))]
Coordinator = Annotated[Principal, Depends(require_roles("coordinator"))]
Body = Annotated[Principal, Depends(require_roles("body"))]
Member = Annotated[Principal, Depends(require_roles("coordinator", "body"))]
CoordinatorOrOperator = Annotated[Principal, Depends(require_roles("coordinator", "operator"))]
AnyParty = Annotated[Principal, Depends(require_roles("operator", "coordinator", "body"))]
Recovery = Annotated[Principal, Depends(require_roles("recovery"))]


def check_member(factory: sessionmaker[Session], principal: Principal, pid: str) -> None:
    """404 unless the caller belongs to project ``pid``. Call it in the thread pool from an
    async route: on SQLite every session takes the write lock (``BEGIN IMMEDIATE``) and may
    wait for it, and waiting on the event loop would stall the request holding it."""
    with factory() as session:
        project_for(session, principal, pid)


def latest_done_run(session: Session, pid: str) -> Run:
    """The project's newest finished run (the one every result is served from); 404 if none."""
    run = session.execute(
        select(Run)
        .where(Run.project_id == pid, Run.status == "done")
        .order_by(Run.finished_at.desc())
        .limit(1)
    ).scalar()
    if run is None:
        raise Problem(404, "No results", "no run of this project has finished yet", "no-results")
    return run
