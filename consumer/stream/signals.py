"""SIGTERM and SIGINT for `run`, handled from the first instant (SPEC §10).

Before the loop runs nothing has been started that needs finishing (no transaction, no group
membership), so a signal ends start-up at once - wherever it is: loading the rule set, waiting
for a broker - and the process exits 0. Once the loop runs, a signal asks it to finish its
batch, commit, leave the group and return.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


class StartupInterrupted(BaseException):
    """A signal arrived during start-up. A BaseException, so that no `except Exception` on
    the way swallows it."""


class Signals:
    """Installs the handlers when created; `running(stop)` switches them to a graceful stop."""

    def __init__(self) -> None:
        self._stop: Callable[[], None] | None = None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def running(self, stop: Callable[[], None]) -> None:
        self._stop = stop

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop is None:
            log.info("shutdown requested during start-up", extra={"signal": name})
            raise StartupInterrupted(name)
        log.info("shutdown requested", extra={"signal": name})
        self._stop()
