"""Resident memory of a process tree, sampled in the background (for the benchmarks)."""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field

import psutil


def process_tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and its descendants (0 for ones that are gone)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with suppress(psutil.Error):
            total += member.memory_info().rss
    return total


@dataclass
class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds in a background thread.

    Use as a context manager; afterwards ``baseline`` is the RSS at entry, ``peak`` the
    largest sample (entry and exit included) and ``samples`` how many were taken.
    """

    process: psutil.Process
    interval: float = 0.05
    baseline: int = 0
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        rss = process_tree_rss(self.process)
        self.samples += 1
        self.peak = max(self.peak, rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self.baseline = process_tree_rss(self.process)
        self.peak = self.baseline
        self.samples = 1
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()
