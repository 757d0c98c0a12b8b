"""A background thread for the server's small periodic duties.

* writes the collapsed failed-authentication audit entries when their window ends
  (:mod:`server.core.ratelimit`);
* writes signed audit checkpoints on the configured schedule (:mod:`server.core.anchor`).

It runs whether or not the linkage worker runs in this process; ``stop()`` flushes what
is pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from server.core import anchor, audit
from server.core.ratelimit import AuthFailureLimiter
from server.db.models import AuditHead

_log = logging.getLogger("kakehashi.server")


def flush_auth_failures(
    factory: sessionmaker[Session], limiter: AuthFailureLimiter, *, everything: bool = False
) -> int:
    """Write one ``auth.failed.repeated`` entry per finished burst; return how many."""
    bursts = limiter.due(everything=everything)
    for burst in bursts:
        audit.append_now(
            factory, actor="system", action="auth.failed.repeated", detail=burst.detail()
        )
    return len(bursts)


class Checkpointer:
    """Writes a signed checkpoint when ``every_entries`` new entries have arrived, when
    ``every_seconds`` have passed with new entries, at start (if the head moved since the
    newest checkpoint in the folder) and at shutdown."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        key: Ed25519PrivateKey,
        folder: Path,
        *,
        every_entries: int,
        every_seconds: float,
    ) -> None:
        self.factory, self.key, self.folder = factory, key, folder
        self.every_entries, self.every_seconds = every_entries, every_seconds
        self.last_seq = anchor.newest_seq(folder)
        self.last_time = -float("inf")

    def __call__(self, final: bool = False) -> Path | None:
        with self.factory() as session:
            head = session.get(AuditHead, 1)
            seq = 0 if head is None else head.seq
            now = time.monotonic()
            new = seq - self.last_seq
            if new <= 0 or not (
                final or new >= self.every_entries or now - self.last_time >= self.every_seconds
            ):
                return None
            checkpoint = anchor.make_checkpoint(session, self.key)
        path = anchor.write_checkpoint(self.folder, checkpoint)
        self.last_seq, self.last_time = checkpoint["seq"], now
        _log.info("audit checkpoint written", extra={"seq": checkpoint["seq"], "path": str(path)})
        return path


class Housekeeper:
    """Calls each duty every ``interval`` seconds in a daemon thread."""

    def __init__(self, duties: list[Callable[[bool], object]], interval: float = 0.5) -> None:
        self.duties = duties
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run_all(self, final: bool) -> None:
        for duty in self.duties:
            try:
                duty(final)
            except Exception as exc:  # keep running; the next round tries again
                _log.error("housekeeping error", extra={"error_type": type(exc).__name__})

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._run_all(False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kakehashi-housekeeping")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._run_all(True)
