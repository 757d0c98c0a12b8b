"""Login sessions of the dashboard, held in this process's memory only.

A session is created for every browser that opens the login page (so that the login form
itself has a CSRF token); logging in replaces it with a fresh one (new id, new token), so
an id planted before login is worthless. Sessions end on logout, after 30 minutes without
a request, and after 8 hours in any case. Nothing is written to disk.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

COOKIE = "kakehashi_dashboard"
IDLE_SECONDS = 30 * 60
MAX_SECONDS = 8 * 60 * 60


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    seen: float
    client: Any = None  # apiclient.ApiClient once logged in
    private_key: Any = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def logged_in(self) -> bool:
        return self.client is not None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None
        self.private_key = None
        self.cache.clear()


class SessionStore:
    def __init__(self, now: Any = time.monotonic) -> None:
        self._now = now
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.failed_logins = 0
        self.locked_until = 0.0

    def _expired(self, s: Session, now: float) -> bool:
        return now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = self._now()
        with self._lock:
            s = self._sessions.get(sid)
            if s is None:
                return None
            if self._expired(s, now):
                del self._sessions[sid]
                s.close()
                return None
            s.seen = now
            return s

    def new(self) -> Session:
        now = self._now()
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        with self._lock:
            for sid in [k for k, v in self._sessions.items() if self._expired(v, now)]:
                self._sessions.pop(sid).close()
            self._sessions[s.id] = s
        return s

    def drop(self, sid: str) -> None:
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is not None:
            s.close()

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for s in sessions:
            s.close()

    # -- login throttle: after 5 failures in a row, 30 s before the next try ---------------
    def login_blocked(self) -> float:
        return max(0.0, self.locked_until - self._now())

    def login_failed(self) -> None:
        self.failed_logins += 1
        if self.failed_logins >= 5:
            self.locked_until = self._now() + 30
            self.failed_logins = 0

    def login_succeeded(self) -> None:
        self.failed_logins = 0
