"""The validator service run on a thread of the test process (as `test_observability` does), for
tests that need to look inside it: which records the engine could not read where they lie
(so Python's decoder read them), its log lines, its /metrics port.

    with InProcessValidator(settings) as validator:
        validator.wait_processed(1000, timeout=60)
        validator.python_path  # records Python's decoder read for the engine
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Self

from consumer.settings import Settings
from consumer.stream.http import HealthServer
from consumer.stream.service import build_service
from tests.integration.streaming import wait_for


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class InProcessValidator:
    """`build_service(settings)` + its HTTP endpoints on 127.0.0.1, run on a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.service = build_service(settings)
        self.pipeline = self.service.pipeline
        self.http = HealthServer("127.0.0.1", 0, self.service.registry, self.service.readiness)
        self.port = self.http.port
        self.error: BaseException | None = None
        # Python's decoder reads only what the engine cannot read where it lies: counting its
        # calls says how the stream was read (every record is decided by the engine).
        self.python_path = 0
        processor = self.pipeline.processor
        decode = processor._decode_and_decide

        def counted(msg: Any) -> Any:
            self.python_path += 1
            return decode(msg)

        processor._decode_and_decide = counted  # type: ignore[method-assign]
        self.log = _Lines()
        self._thread = threading.Thread(target=self._run, name="validator", daemon=True)
        self._stopped = False

    def start(self) -> Self:
        logging.getLogger("consumer").addHandler(self.log)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.pipeline.run()
        except BaseException as exc:  # reported by wait_processed / stop
            self.error = exc

    def wait_processed(self, count: int, timeout: float) -> None:
        def done() -> bool:
            if self.error is not None:
                raise AssertionError(f"the validator stopped: {self.error!r}")
            return self.pipeline.processed >= count

        what = lambda: f"{count} records processed, have {self.pipeline.processed}"  # noqa: E731
        wait_for(done, what, timeout)

    def logged(self, message: str) -> int:
        """How many log lines of the service had this message."""
        return sum(1 for m in self.log.messages if m == message)

    def stop(self) -> None:
        """Finish the batch, commit, leave the group; close the HTTP endpoints. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.pipeline.stop()
        self._thread.join(60)
        self.http.close()
        logging.getLogger("consumer").removeHandler(self.log)
        assert not self._thread.is_alive(), "the validator did not stop within 60 s"
        if self.error is not None:
            raise AssertionError(f"the validator failed: {self.error!r}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
