"""Failed authentication is limited per client address, recorded with the address, and
repeated failures are collapsed into one audit entry (issue 12, item 5)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_process import ServerProcess, backend_param
from sqlalchemy import create_engine, text

from server.core.ratelimit import AuthFailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: Clock, **kw: float) -> AuthFailureLimiter:
    args = {"burst": 3, "per_minute": 6.0, "collapse_seconds": 60.0, "max_clients": 100, **kw}
    return AuthFailureLimiter(clock=clock, **args)  # type: ignore[arg-type]


def test_bucket_empties_then_refills() -> None:
    clock = Clock()
    lim = _limiter(clock)
    for _ in range(3):
        assert lim.retry_after("a") is None
        lim.failure("a", "unknown credential")
    assert lim.retry_after("a") == 10  # 6 per minute: one back after 10 s
    assert lim.retry_after("b") is None  # per address
    clock.now += 10
    assert lim.retry_after("a") is None
    lim.failure("a", "unknown credential")
    assert lim.retry_after("a") == 10


def test_unlimited_failures_do_not_take_tokens() -> None:
    lim = _limiter(Clock())
    for _ in range(50):
        lim.failure("a", "no-credential", limited=False)
    assert lim.retry_after("a") is None


def test_failures_collapse_into_one_entry_per_window() -> None:
    clock = Clock()
    lim = _limiter(clock, burst=100)
    assert lim.failure("a", "unknown credential") is True  # audited at once
    assert not any(lim.failure("a", "unknown credential") for _ in range(48))
    assert lim.failure("a", "credential revoked") is False
    assert lim.due() == []  # the window is still open
    clock.now += 60
    (burst,) = lim.due()
    assert burst.client == "a" and burst.count == 49
    assert burst.reasons == {"unknown credential": 48, "credential revoked": 1}
    assert burst.first <= burst.last
    assert lim.due() == []
    assert lim.failure("a", "unknown credential") is True  # a new window


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=3000))
def test_memory_is_bounded(addresses: list[int]) -> None:
    lim = _limiter(Clock(), max_clients=50)
    written = 0
    for n in addresses:
        lim.retry_after(f"10.0.{n // 256}.{n % 256}")
        written += lim.failure(f"10.0.{n // 256}.{n % 256}", "unknown credential")
        assert len(lim._buckets) <= 50 and len(lim._bursts) <= 50
    # nothing is lost: every failure is either audited at once or counted in a burst
    collapsed = sum(b.count for b in lim.due(everything=True))
    assert written + collapsed == len(addresses)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from backend_param(request.param)


def _audit(proc: ServerProcess) -> list[dict]:
    url = proc.url or f"sqlite:///{proc.data_dir / 'kakehashi.db'}"
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("select actor, action, detail from audit_log order by seq"))
        out = [{"actor": a, "action": b, "detail": json.loads(d)} for a, b, d in rows]
    engine.dispose()
    return out


def test_real_server_limits_records_and_collapses(tmp_path: Path, db_url: str | None) -> None:
    proc = ServerProcess(
        tmp_path / "data", db_url, tmp_path / "server.log",
        "--auth-failure-burst", "5", "--auth-failure-per-minute", "1",
        "--auth-failure-audit-seconds", "2",
    )  # fmt: skip
    proc.start()
    try:
        attacker, other = {"X-Forwarded-For": "192.0.2.7"}, {"X-Forwarded-For": "192.0.2.8"}
        with proc.client(proc.operator) as c:
            assert c.get("/api/v1/projects").status_code == 200
        statuses = []
        with proc.client("kkh_guess", **attacker) as c:
            for _ in range(50):
                statuses.append(c.get("/api/v1/projects").status_code)
            limited = c.get("/api/v1/projects")
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) >= 1
        assert "retry after" in limited.json()["detail"]
        # while locked out, even a valid credential from that address waits ...
        with proc.client(proc.operator, **attacker) as c:
            assert c.get("/api/v1/projects").status_code == 429
        # ... but other addresses are not affected
        with proc.client(proc.operator, **other) as c:
            assert c.get("/api/v1/projects").status_code == 200
        with proc.client("kkh_typo", **other) as c:
            assert c.get("/api/v1/projects").status_code == 401
        deadline = time.monotonic() + 60
        while True:
            repeated = [e for e in _audit(proc) if e["action"] == "auth.failed.repeated"]
            if repeated:
                break
            assert time.monotonic() < deadline, "no collapsed audit entry was written"
            time.sleep(0.2)
    finally:
        proc.stop()
    entries = _audit(proc)
    failed = [e for e in entries if e["action"] == "auth.failed"]
    repeated = [e for e in entries if e["action"] == "auth.failed.repeated"]
    mine = [e for e in failed if e["detail"]["client"] == "192.0.2.7"]
    mine_repeated = [e for e in repeated if e["detail"]["client"] == "192.0.2.7"]
    assert mine[0]["detail"]["outcome"] == "unknown credential"  # at once, with the address
    assert [e["detail"]["client"] for e in failed if e not in mine] == ["192.0.2.8"]
    # 52 attempts (5 + 45 + 1 + 1 while locked out) in a few entries: each window of the
    # collapse period opens with one entry and ends with one carrying the count.
    reasons: dict[str, int] = {}
    for e in mine:
        reasons[e["detail"]["outcome"]] = reasons.get(e["detail"]["outcome"], 0) + 1
    for e in mine_repeated:
        assert e["detail"]["first"] <= e["detail"]["last"]
        assert e["detail"]["count"] == sum(e["detail"]["reasons"].values())
        for reason, n in e["detail"]["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    assert reasons == {"unknown credential": 5, "rate-limited": 47}
    assert len(mine) + len(mine_repeated) <= 10
    assert 1 <= len(mine_repeated) <= len(mine)  # a window with one failure needs no count
    # the 52 attempts made 2 audit entries, not 52; successful requests carry the address
    ok = [e for e in entries if e["action"] == "http.request"]
    assert ok and all("client" in e["detail"] for e in ok)
    assert {e["detail"]["client"] for e in ok} >= {"127.0.0.1", "192.0.2.8"}
    assert proc.cli("audit", "verify").returncode == 0
