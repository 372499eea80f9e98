"""The producer with every call that waits on a coordinator bounded, so that a broker restart is
survived in the process (SPEC §10).

librdkafka does not always keep its own timeouts: `send_offsets_to_transaction` can block for
good when the group coordinator's broker goes away during the call - the coordinator request
is only re-tried on a later broker state change, which may never come (confluentinc/librdkafka
#5456 and #5511, open in 2.16). A call blocked in C cannot be interrupted from Python, so these
calls run on a worker thread of the producer's own and the loop waits for them at most a
deadline. A producer whose call overran is *abandoned*: the loop replaces it (the new producer's
`init_transactions` fences it and has the coordinator finish its transaction), and the worker
closes it if the call ever returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from consumer.stream.native_producer import native_producer

log = logging.getLogger(__name__)

# How long past librdkafka's own timeout a call may take before it counts as stuck.
GRACE_SECONDS = 2.0
# Abandoned producers whose call has not returned yet: each holds a thread and its sockets.
# Past this many the process gives up (see Pipeline) instead of leaking more.
MAX_STUCK = 3


class StuckCall(Exception):  # noqa: N818 (an outcome, not a bug)
    """A call did not return within its bound; its producer has been abandoned."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} did not return within {seconds:.0f}s")
        self.what = what


class ProduceFailed(Exception):  # noqa: N818
    """Producing a batch's records failed on the worker, before its commit was asked for: the
    transaction is certainly not committed."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CommitFailed(Exception):  # noqa: N818
    """`send_offsets_to_transaction` + `commit_transaction` failed. `abortable`: the transaction
    was certainly not committed and may be aborted; otherwise its outcome is unknown until a new
    producer has fenced this one (then the group's committed offsets tell)."""

    def __init__(self, cause: Exception, *, abortable: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.abortable = abortable


class CommitSteps(NamedTuple):
    """Seconds a committed transaction spent in each step on the producer's worker."""

    produce: float  # its records handed to the producer (`writes`)
    send_offsets: float  # its input offsets added (`send_offsets_to_transaction`)
    commit: float  # `commit_transaction`: the records acknowledged, then the commit


@dataclass(eq=False, slots=True)
class Job:
    """A call running on a producer's worker (`BoundedProducer.start`)."""

    fn: Callable[[], Any]
    what: str
    seconds: float
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class BoundedProducer:
    """A `confluent_kafka.Producer` plus the worker thread its blocking calls run on.

    `produce`, `poll` and `len()` never block: called on the caller's thread, or on the worker
    as a transaction's writes (`start_commit`)."""

    stuck: ClassVar[int] = 0  # process-wide count of abandoned producers still in a call
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, config: dict[str, Any], name: str = "producer", *, native: bool = False
    ) -> None:
        self.producer = Producer(config)
        self.produce = self.producer.produce  # the per-record hot path: no wrapper
        # With `native`, the engine produces batches on this producer without the GIL (None
        # where it cannot: see consumer.stream.native_producer).
        self.native = (
            native_producer(self.producer, config.get("client.id", "rdkafka")) if native else None
        )
        self.poll = self.producer.poll
        self.abandoned = False
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self.producer)

    # --- bounded calls ---------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[], Any], seconds: float) -> Any:
        """`fn()` on the worker; its result, or its exception, or StuckCall after `seconds`."""
        return self.wait(self.start(what, fn, seconds))

    def start(self, what: str, fn: Callable[[], Any], seconds: float) -> Job:
        """`fn()` started on the worker; `wait` for it within `seconds` from now."""
        if self.abandoned:
            raise StuckCall(what, 0)
        job = Job(fn, what, seconds, time.monotonic() + seconds)
        self._jobs.put(job)
        return job

    def wait(self, job: Job) -> Any:
        """The started call's result, or its exception, or StuckCall once its bound passed."""
        left = max(0.0, job.deadline - time.monotonic())
        if not job.done.wait(left) and self._abandon(job, job.what):
            raise StuckCall(job.what, job.seconds)
        if job.error is not None:
            raise job.error
        return job.result

    def init_transactions(self, timeout: float) -> None:
        self.call(
            "init_transactions",
            lambda: self.producer.init_transactions(timeout),
            timeout + GRACE_SECONDS,
        )

    def begin_transaction(self) -> None:
        self.producer.begin_transaction()  # local: no request, never blocks

    def abort_transaction(self, timeout: float) -> None:
        self.call(
            "abort_transaction",
            lambda: self.producer.abort_transaction(timeout),
            timeout + GRACE_SECONDS,
        )

    def start_commit(
        self,
        writes: Callable[[], None],
        offsets: list[TopicPartition],
        group: Any,
        timeout: float,
    ) -> Job:
        """Produce the transaction's records (`writes`), add the consumer offsets to it and
        commit it, within `timeout` (plus the grace) in all, on the worker: the caller may
        decide the next batch meanwhile (its own decisions' work does not hold the GIL), but
        uses this producer for nothing until `finish_commit` returned."""
        deadline = time.monotonic() + timeout

        def send_and_commit() -> CommitSteps:
            started = time.monotonic()
            try:
                writes()
            except (KafkaException, BufferError) as exc:
                raise ProduceFailed(exc) from exc
            produced = time.monotonic()
            self.producer.send_offsets_to_transaction(offsets, group, timeout)
            sent = time.monotonic()
            while True:
                try:
                    # A timed-out commit may be called again: it resumes, never commits twice.
                    self.producer.commit_transaction(max(0.1, deadline - time.monotonic()))
                    return CommitSteps(produced - started, sent - produced, time.monotonic() - sent)
                except KafkaException as exc:
                    if not exc.args[0].retriable() or time.monotonic() >= deadline:
                        raise

        try:
            return self.start(
                "send_offsets_to_transaction/commit_transaction",
                send_and_commit,
                timeout + GRACE_SECONDS,
            )
        except StuckCall as exc:  # this producer was abandoned already
            raise CommitFailed(exc, abortable=False) from exc

    def finish_commit(self, job: Job) -> CommitSteps:
        """Wait for a started commit (`start_commit`); ProduceFailed when its records could
        not be produced, CommitFailed when the commit failed."""
        try:
            steps: CommitSteps = self.wait(job)
            return steps
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            raise CommitFailed(exc, abortable=error.txn_requires_abort()) from exc
        except StuckCall as exc:
            raise CommitFailed(exc, abortable=False) from exc

    def flush(self, timeout: float) -> int:
        remaining: int = self.call("flush", lambda: self.producer.flush(timeout), timeout + 5)
        return remaining

    # --- the end ---------------------------------------------------------------------------

    def close(self, wait: float = 0.0) -> None:
        """Close the producer on its worker, after any call still running there, waiting at
        most `wait` seconds for it. Queued records are purged first (an open transaction is
        left to the coordinator: aborted when a new producer fences this one, or at its
        timeout)."""
        if self.abandoned:
            return  # its worker closes it when (if) the call returns
        self._jobs.put(None)
        if wait:
            self._thread.join(wait)

    def _abandon(self, job: Job, what: str) -> bool:
        """Abandon this producer unless `job` finished after all (then False)."""
        with self._lock:  # against the worker finishing the job at this very moment
            if job.done.is_set():
                return False
            self.abandoned = True
            BoundedProducer.stuck += 1
        self._jobs.put(None)  # the worker closes the producer once the call returns
        log.error("producer abandoned: a call overran its bound", extra={"call": what})
        return True

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            try:
                job.result = job.fn()
            except BaseException as exc:  # handed to the caller, who decides
                job.error = exc
            with self._lock:
                job.done.set()
                if self.abandoned:  # nobody waits for this producer any more
                    BoundedProducer.stuck -= 1
                    log.info("an abandoned producer's call returned; closing it")
                    break
        try:
            self.producer.purge()
            self.producer.close()
        except KafkaException as exc:
            # A replaced producer was fenced by its successor, and close() (which aborts an
            # open transaction first) says so: expected. The handle is destroyed when the last
            # reference to it goes, with this thread.
            log.info("a replaced producer closed", extra={"note": exc.args[0].str()})
