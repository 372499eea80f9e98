"""Which assigned input partitions librdkafka has stopped fetching from, and since when.

librdkafka's statistics give each partition's fetch state: `active` while it fetches, other
states (`offset-query`, `offset-wait`, `stopped`, ...) while it looks for the position to start
from or is stopped. A partition that stays out of `active` is read by nobody: `consume()`
returns nothing for it, which looks like an idle input, and its lag gauge is no longer updated.
The chaos test saw a validator keep its partitions after a broker restart and commit nothing
for 100 s with no error logged; this makes such a stall visible - `/readyz`, the
`partitions_not_fetching` gauge and one log line per partition - without guessing its cause.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

log = logging.getLogger("consumer.stream.pipeline")  # the loop's own log lines

Key = tuple[str, int]

# Out of `active` this long counts as not fetching. Assignment, a seek and a broker failover
# pass through the other states for well under a second; the statistics come every 5 s.
NOT_FETCHING_SECONDS = 60.0


class NotFetching(NamedTuple):
    partition: int
    state: str  # librdkafka's fetch state
    seconds: float  # out of `active` for at least this long


class FetchStates:
    """Fed with each assigned partition's fetch state from the statistics (`update`)."""

    def __init__(
        self,
        threshold: float = NOT_FETCHING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self._clock = clock
        self._since: dict[Key, tuple[str, float]] = {}  # not active: (state, first seen)
        self._reported: set[Key] = set()  # logged as not fetching, not active since

    def update(self, key: Key, state: str) -> None:
        now = self._clock()
        if state == "active":
            self._since.pop(key, None)
            if key in self._reported:
                self._reported.discard(key)
                log.info("partition fetched from again", extra={"partition": key[1]})
            return
        since = self._since.get(key, (state, now))[1]
        self._since[key] = (state, since)
        if now - since > self.threshold and key not in self._reported:
            self._reported.add(key)
            log.warning(
                "partition not fetched from",
                extra={
                    "topic": key[0],
                    "partition": key[1],
                    "fetch_state": state,
                    "seconds": round(now - since),
                },
            )

    def forget(self, key: Key) -> None:
        """The partition is no longer assigned."""
        self._since.pop(key, None)
        self._reported.discard(key)

    def stalled(self) -> list[NotFetching]:
        """The partitions out of `active` for longer than the threshold, by partition."""
        now = self._clock()
        return [
            NotFetching(key[1], state, now - since)
            for key, (state, since) in sorted(self._since.items())
            if now - since > self.threshold
        ]
