"""The engine's way to produce a batch's records without the GIL (docs/decisions/0006).

`consumer._native.NativeProducer` produces on the librdkafka handle of a confluent-kafka
`Producer`, opening again the librdkafka that confluent-kafka loaded. This module finds that
library and builds one for a producer, or says (once, in the log) why the records go through
`Producer.produce` instead.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from confluent_kafka import Producer

from consumer._native import NativeProducer

log = logging.getLogger(__name__)


@cache
def loaded_librdkafka() -> str | None:
    """The path of the librdkafka this process has loaded (confluent-kafka's, from its wheel or
    the system), from the process's memory map; None where there is no such map (not Linux)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if Path(path).name.startswith("librdkafka"):
            return path
    return None


def native_producer(producer: Producer, client_id: str) -> NativeProducer | None:
    """`producer`'s records produced from the engine, or None (then `produce()` is used)."""
    library = loaded_librdkafka()
    if library is None:
        _fall_back("librdkafka's path is not known (no /proc/self/maps)")
        return None
    try:
        return NativeProducer(producer, library, client_id)
    except ValueError as exc:
        _fall_back(str(exc))
        return None


@cache
def _fall_back(why: str) -> None:
    log.warning("records produced through Producer.produce: %s", why, extra={"reason": why})
