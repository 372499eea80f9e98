"""Progress of long work on stderr: a bar with rate and ETA on a terminal, a line every few
seconds otherwise (so CI logs and `kubectl logs` stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, total: int, label: str, stream: TextIO = sys.stderr, *, done: int = 0
    ) -> None:
        """`done`: work already done before this run (a resumed replay): shown in the bar,
        not counted in the rate."""
        self.total = max(total, 0)
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.perf_counter()
        self._last_shown = 0.0
        self.done = self._before = done

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self._last_shown < (0.25 if self.tty else 5.0):
            return
        self._last_shown = now
        self._show(now, end="\r" if self.tty else "\n")

    def finish(self) -> None:
        self._show(time.perf_counter(), end="\n")

    def _show(self, now: float, end: str) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = (self.done - self._before) / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(share * 30)
        self.stream.write(
            f"{self.label} [{bar:<30}] {share:6.1%} {self.done:,}/{self.total:,} "
            f"{rate:,.0f}/s ETA {left:,.0f}s{end}"
        )
        self.stream.flush()
