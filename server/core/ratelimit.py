"""Failed authentication per client address: a token bucket and collapsed audit entries.

Every presented credential that does not authenticate (unknown, revoked, expired) takes a
token from its address's bucket (``burst`` tokens, refilled at ``per_minute``). An address
whose bucket is empty gets 429 with ``Retry-After`` for every request that presents a
credential, valid or not, until a token is back. Requests without a credential are not
limited (they learn nothing and cost one cheap check) but are audited the same way.

Audit: the first failure of an address is written at once (with the address); the ones
that follow within ``collapse_seconds`` are counted in memory and written as one
``auth.failed.repeated`` entry (count, first and last time, reasons) when that window
ends — by :meth:`AuthFailureLimiter.due`, called by the server's housekeeping thread and
at shutdown.

Memory is bounded: at most ``max_clients`` addresses are tracked (least recently seen
dropped first; a dropped address's pending count is still written).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Burst:
    """Failures of one address collapsed into one audit entry."""

    client: str
    opened: float
    first: str = ""
    last: str = ""
    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def detail(self) -> dict[str, object]:
        return {
            "client": self.client,
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "reasons": dict(sorted(self.reasons.items())),
        }


class AuthFailureLimiter:
    """Per-address token bucket for failed authentication, and audit collapsing."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        collapse_seconds: float,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.collapse_seconds = collapse_seconds
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._bursts: OrderedDict[str, Burst] = OrderedDict()
        self._evicted: list[Burst] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets) + len(self._bursts)

    def _bucket(self, client: str, now: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(client)
        return bucket

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(client)
            if bucket is None:
                return None
            bucket = self._bucket(client, now)
            if bucket.tokens >= 1:
                return None
            if self.rate <= 0:
                return 3600
            return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def failure(self, client: str, reason: str, *, limited: bool = True) -> bool:
        """Record one failure; True when it is the first of a burst (audit it now).

        ``limited``: take a token from the bucket (a presented credential that failed).
        """
        with self._lock:
            now = self.clock()
            if limited:
                bucket = self._bucket(client, now)
                bucket.tokens = max(0.0, bucket.tokens - 1)
            burst = self._bursts.get(client)
            if burst is None:
                self._bursts[client] = Burst(client, now)
                while len(self._bursts) > self.max_clients:
                    _, old = self._bursts.popitem(last=False)
                    if old.count:
                        self._evicted.append(old)
                return True
            stamp = datetime.now(UTC).isoformat()
            burst.first = burst.first or stamp
            burst.last = stamp
            burst.count += 1
            burst.reasons[reason] += 1
            return False

    def due(self, *, everything: bool = False) -> list[Burst]:
        """Bursts whose window has ended (all with ``everything``) that hold failures to
        write; they are forgotten here."""
        with self._lock:
            now = self.clock()
            out, self._evicted = self._evicted, []
            for client in list(self._bursts):
                burst = self._bursts[client]
                if everything or now - burst.opened >= self.collapse_seconds:
                    del self._bursts[client]
                    if burst.count:
                        out.append(burst)
            return out
