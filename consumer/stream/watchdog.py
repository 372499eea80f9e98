"""The last resort against a call blocked in C: one long-lived thread that ends the process when
a deadline set by the loop has passed.

A call into librdkafka releases the GIL but cannot be interrupted from Python. The loop bounds
every call that talks to a coordinator (`consumer.stream.txn` runs them on a worker it can abandon),
so recovery happens in the process; this thread only acts when something still overran its
deadline by far. Exiting then is a kill -9 at a batch boundary: a restart with the same
transactional id fences this instance and resumes from the committed offsets.

Arming and disarming is one attribute write each: the loop pays nothing per batch (the
`threading.Timer` started per batch before cost ~230 µs of CPU, an OS thread each time).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Exit code of a process ended by the watchdog (EX_TEMPFAIL: restart me).
STUCK_EXIT_CODE = 75
_IDLE = (math.inf, "", 0.0)


def exit_stuck(what: str, seconds: float) -> None:
    """End the process at once with one line on stderr (nothing else can run reliably now)."""
    message = (
        f"{what} still blocked after {seconds:.0f}s (librdkafka did not time it out); "
        "exiting so that a restart resumes from the committed offsets"
    )
    log.critical(message)
    print(f"infusion-validator: error: {message}", file=sys.stderr, flush=True)
    os._exit(STUCK_EXIT_CODE)


class Watchdog:
    """`arm(what, seconds)` before a step that may block, `disarm()` after it; if a deadline
    passes while armed, `on_expiry(what, seconds)` runs on the watchdog thread (by default:
    `exit_stuck`). Checked every `interval` seconds, so it fires up to that much late."""

    def __init__(
        self,
        on_expiry: Callable[[str, float], None] = exit_stuck,
        *,
        interval: float = 0.5,
    ) -> None:
        self._on_expiry = on_expiry
        self._interval = interval
        # (deadline, what, seconds) in one reference, so the thread never reads a torn mix.
        self._armed: tuple[float, str, float] = _IDLE
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self, what: str, seconds: float) -> None:
        self._armed = (time.monotonic() + seconds, what, seconds)

    def disarm(self) -> None:
        self._armed = _IDLE

    @contextmanager
    def guard(self, what: str, seconds: float) -> Iterator[None]:
        """Armed for the body, disarmed after it (also when it raises)."""
        self.arm(what, seconds)
        try:
            yield
        finally:
            self.disarm()

    def close(self) -> None:
        self._closed.set()

    def _watch(self) -> None:
        while not self._closed.wait(self._interval):
            deadline, what, seconds = self._armed
            if time.monotonic() > deadline:
                self._armed = _IDLE
                self._on_expiry(what, seconds)
