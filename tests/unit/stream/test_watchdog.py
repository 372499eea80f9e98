"""The watchdog: one thread, a deadline the loop sets and clears, acted on only once passed."""

from __future__ import annotations

import threading
import time

from consumer.stream.watchdog import Watchdog


def test_an_expired_deadline_is_reported_once_with_what_was_blocked() -> None:
    fired: list[tuple[str, float]] = []
    done = threading.Event()

    def on_expiry(what: str, seconds: float) -> None:
        fired.append((what, seconds))
        done.set()

    watchdog = Watchdog(on_expiry, interval=0.01)
    try:
        watchdog.arm("commit_transaction", 0.05)
        assert done.wait(5)
        time.sleep(0.1)
        assert fired == [("commit_transaction", 0.05)]
    finally:
        watchdog.close()


def test_a_step_finished_in_time_is_never_reported() -> None:
    fired: list[str] = []
    watchdog = Watchdog(lambda what, _s: fired.append(what), interval=0.01)
    try:
        for _ in range(1000):
            with watchdog.guard("a batch", 0.2):
                pass
        watchdog.arm("idle", 0.05)
        watchdog.disarm()
        time.sleep(0.2)
        assert fired == []
    finally:
        watchdog.close()


def test_arming_costs_no_thread_per_batch() -> None:
    watchdog = Watchdog(lambda what, _s: None, interval=0.01)
    try:
        before = threading.active_count()
        for _ in range(10_000):
            watchdog.arm("a batch", 30)
            watchdog.disarm()
        assert threading.active_count() == before  # a threading.Timer per batch started one
    finally:
        watchdog.close()
