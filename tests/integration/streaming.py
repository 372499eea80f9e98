"""Helpers for the streaming-guarantee tests (SPEC §5, §10) on the session's real broker.

- `Validator`: one logical validator instance run as a real subprocess (`python -m consumer
  run`) on per-test topics and group; `start()` again after a kill reuses its transactional id,
  so the new process fences the old one exactly like a restarted pod.
- `produce_claims` / `produce_values`: sample claims (through the product's own producer) and
  arbitrary bytes (poison) into the input topic.
- `TopicReader`: reads whole topics from the beginning with `isolation.level=read_committed`
  (what downstream sees); `GroupWatcher`: the group's committed offsets against the input's end.
- `Record`: a record read back; `.decision` is its ClaimDecision decoded by fastavro (an
  oracle independent of the product's compiled codec).
- `LogEnds`: whether a transaction is open with records in the log (where a kill hurts most).

Every wait is a condition with a deadline (`wait_for`), never a bare sleep.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import fastavro
import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from prometheus_client.parser import text_string_to_metric_families

from consumer._native import History
from consumer.codec.wire import Wire
from consumer.engine import Engine
from consumer.offline.validate import validate
from consumer.records.claims import claim_from_json
from consumer.records.schemas import decision_schema
from consumer.settings import Settings
from consumer.stream.producing import produce_claims as product_produce_claims

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# librdkafka properties for the validator's clients. A killed member keeps its partitions until
# its session expires: 6 s (the broker's minimum) instead of 45 s keeps restarts quick.
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
# Producer settings for tests that must catch a transaction open (kill or freeze inside it):
# each record its own request, one at a time, so a batch's records reach the log one by one
# over tens to hundreds of milliseconds. With the defaults a batch commits within milliseconds
# of its first record reaching the log, and most signals land between two transactions.
SLOW_TRANSACTIONS = {"batch.num.messages": 1, "max.in.flight.requests.per.connection": 1}


def wait_for(
    condition: Callable[[], T], what: str | Callable[[], str], timeout: float, interval: float = 0.1
) -> T:
    """Poll `condition` until it returns something truthy (returned); AssertionError naming
    `what` (a string, or a function giving the details) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {detail}")
        time.sleep(interval)


# --- topics and producing ------------------------------------------------------------------


@dataclass(frozen=True)
class Topics:
    input: str
    accepted: str
    pended: str
    dlq: str

    @property
    def decisions(self) -> tuple[str, str]:
        return (self.accepted, self.pended)

    @property
    def outputs(self) -> tuple[str, str, str]:
        return (self.accepted, self.pended, self.dlq)

    def env(self) -> dict[str, str]:
        return {
            "INFUSION_VALIDATOR_TOPICS__INPUT": self.input,
            "INFUSION_VALIDATOR_TOPICS__ACCEPTED": self.accepted,
            "INFUSION_VALIDATOR_TOPICS__PENDED": self.pended,
            "INFUSION_VALIDATOR_TOPICS__DLQ": self.dlq,
        }


def make_topics(
    topic_factory: Callable[..., str],
    input_partitions: int = 3,
    *,
    output_partitions: int = 3,
    input_config: Mapping[str, str] | None = None,
    dlq_config: Mapping[str, str] | None = None,
) -> Topics:
    """A fresh input/accepted/pended/dlq set for one test (deleted at teardown); only the
    input gets `input_config` and the DLQ `dlq_config`, the rest the broker's defaults."""
    return Topics(
        input=topic_factory(input_partitions, prefix="in", config=input_config),
        accepted=topic_factory(output_partitions, prefix="accepted"),
        pended=topic_factory(output_partitions, prefix="pended"),
        dlq=topic_factory(1, prefix="dlq", config=dlq_config),
    )


def client_settings(bootstrap: str, topics: Topics) -> Settings:
    """Product settings for the test process's own producer (raw wire format)."""
    return Settings(
        kafka={"bootstrap_servers": bootstrap},  # type: ignore[arg-type]
        topics={  # type: ignore[arg-type]
            "input": topics.input,
            "accepted": topics.accepted,
            "pended": topics.pended,
            "dlq": topics.dlq,
        },
    )


def produce_claims(
    bootstrap: str, topics: Topics, claims: Iterable[dict[str, Any]], rate: float | None = None
) -> int:
    """JSON-form claims into the input topic through the product's producer (keyed by member
    id, raw Avro); `rate` in claims/s (None: as fast as it goes)."""
    return product_produce_claims(client_settings(bootstrap, topics), claims, rate=rate)


def claim_encoder(bootstrap: str, topics: Topics) -> Callable[[dict[str, Any]], bytes]:
    """JSON-form claim -> input record value (raw Avro), for hand-built record sequences; only
    the schema is checked (a claim without lines encodes, the validator must DLQ it)."""
    return Wire.build(client_settings(bootstrap, topics)).claim_encoder()


def produce_values(
    bootstrap: str,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes | None]],
    *,
    config: Mapping[str, Any] | None = None,
    transactional: bool = False,
) -> list[tuple[int, int]]:
    """Produce (key, value) pairs in order (idempotent, acks=all); returns each record's
    (partition, offset). Fails if any delivery fails. `transactional`: all in one transaction,
    so a read_committed consumer sees them at once (typically in one fetch)."""
    coordinates: list[tuple[int, int] | None] = [None] * len(items)
    failures: list[str] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            **({"transactional.id": f"it-producer-{uuid.uuid4().hex}"} if transactional else {}),
            **(config or {}),
        }
    )
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()

    def reporter(index: int) -> Callable[[KafkaError | None, Any], None]:
        def on_delivery(error: KafkaError | None, msg: Any) -> None:
            if error is not None:
                failures.append(f"record {index}: {error.str()}")
            else:
                coordinates[index] = (msg.partition(), msg.offset())

        return on_delivery

    for index, (key, value) in enumerate(items):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=reporter(index))
                break
            except BufferError:
                producer.poll(0.1)
    if transactional:
        producer.commit_transaction(60)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} record(s) still queued after 60 s"
    assert not failures, f"deliveries to {topic} failed: {failures[:3]}"
    return [c for c in coordinates if c is not None]


# --- reading back --------------------------------------------------------------------------

_DECISION_SCHEMA = decision_schema()


@dataclass(frozen=True)
class Record:
    """One record read back (any topic)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes] = field(hash=False)

    @cached_property
    def decision(self) -> dict[str, Any]:
        """The ClaimDecision in the value (raw wire format), decoded by fastavro."""
        assert self.value is not None
        return fastavro.schemaless_reader(  # type: ignore[return-value]
            io.BytesIO(self.value), _DECISION_SCHEMA, _DECISION_SCHEMA
        )

    @property
    def event_id(self) -> str:
        return str(self.decision["event_id"])

    def header(self, name: str) -> str:
        return self.headers[name].decode()


class TopicReader:
    """Reads every partition of `topics` from the beginning, without a consumer group.

    `read_committed` by default: aborted transactions (a killed validator's half-written
    batch) are invisible, as they are to every downstream consumer.
    """

    def __init__(
        self, bootstrap: str, topics: Sequence[str], *, isolation: str = "read_committed"
    ) -> None:
        self.topics = list(topics)
        self.records: list[Record] = []
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"it-reader-{uuid.uuid4().hex[:8]}",  # required; never joined
                "enable.auto.commit": False,
                "isolation.level": isolation,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 100,
            }
        )
        metadata = self._consumer.list_topics(timeout=30)
        self.partitions = [
            (topic, p) for topic in self.topics for p in sorted(metadata.topics[topic].partitions)
        ]
        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in self.partitions])
        self._at_end: set[tuple[str, int]] = set()

    def poll(self, timeout: float = 0.2) -> int:
        """Fetch what is available; returns the number of new records."""
        new = 0
        for msg in self._consumer.consume(10_000, timeout):
            tp = (msg.topic() or "", msg.partition() or 0)
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add(tp)
                    continue
                raise AssertionError(f"reading {tp}: {error.str()}")
            self._at_end.discard(tp)
            headers = {k: v or b"" for k, v in (msg.headers() or [])}
            self.records.append(
                Record(tp[0], tp[1], msg.offset() or 0, msg.key(), msg.value(), headers)
            )
            new += 1
        return new

    def count(self, topics: Collection[str] | None = None) -> int:
        self.poll(0)
        return sum(1 for r in self.records if topics is None or r.topic in topics)

    def wait_for_count(
        self, expected: int, timeout: float, topics: Collection[str] | None = None
    ) -> list[Record]:
        """Read until at least `expected` records (of `topics`) arrived, or fail."""
        wait_for(
            lambda: self.count(topics) >= expected,
            lambda: f"{expected} records in {topics or self.topics}, have {self.count(topics)}",
            timeout,
            interval=0.05,
        )
        return self.of(topics)

    def drain(self, timeout: float = 60.0) -> list[Record]:
        """Read until every partition is at its end (call once the writers are settled)."""
        wait_for(
            lambda: self.poll(0.2) == 0 and self._at_end >= set(self.partitions),
            lambda: f"the end of {self.topics} (at end: {sorted(self._at_end)})",
            timeout,
            interval=0,
        )
        return self.records

    def of(self, topics: Collection[str] | None = None) -> list[Record]:
        return [r for r in self.records if topics is None or r.topic in topics]

    def close(self) -> None:
        self._consumer.close()


def read_all(
    bootstrap: str, topics: Sequence[str], *, isolation: str = "read_committed"
) -> list[Record]:
    """Everything currently in `topics` (the writers must be settled)."""
    reader = TopicReader(bootstrap, topics, isolation=isolation)
    try:
        return reader.drain()
    finally:
        reader.close()


class GroupWatcher:
    """The validator group's committed offsets on the input topic, against its end."""

    def __init__(self, bootstrap: str, group_id: str, topic: str) -> None:
        self.topic = topic
        # A consumer in the group that never subscribes: it only reads committed offsets.
        # read_uncommitted so the offset fetch does not wait for open transactions.
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "enable.auto.commit": False,
                "isolation.level": "read_uncommitted",
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=30)
        self.partitions = sorted(metadata.topics[topic].partitions)

    def committed(self) -> dict[int, int]:
        """Partition -> committed offset (0 when none yet)."""
        tps = [TopicPartition(self.topic, p) for p in self.partitions]
        return {tp.partition: max(tp.offset, 0) for tp in self._consumer.committed(tps, 30)}

    def ends(self) -> dict[int, int]:
        return {
            p: self._consumer.get_watermark_offsets(TopicPartition(self.topic, p), 30)[1]
            for p in self.partitions
        }

    def total_committed(self) -> int:
        """Sum of the committed offsets; -1 while the broker does not answer (restarting)."""
        try:
            return sum(self.committed().values())
        except KafkaException:
            return -1

    def caught_up(self) -> bool:
        try:
            return self.committed() == self.ends()
        except KafkaException:
            return False

    def wait_caught_up(self, timeout: float, why: Callable[[], str] = lambda: "") -> None:
        """Until the committed offsets equal the input's end; `why()` adds to a failure."""

        def describe() -> str:
            try:
                return f"group offsets {self.committed()} to reach the input end {self.ends()}"
            except KafkaException as exc:
                return f"the group offsets to reach the input end (broker: {exc})"

        wait_for(self.caught_up, lambda: describe() + why(), timeout, interval=0.25)

    def close(self) -> None:
        self._consumer.close()


class LogEnds:
    """For each partition of `topics`, the high watermark (as read_uncommitted sees it) and the
    last stable offset (read_committed): where the first is ahead, a transaction is open and
    has already written records to the log."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._consumers = [
            Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": f"it-ends-{uuid.uuid4().hex[:8]}",  # required; never joined
                    "isolation.level": isolation,
                }
            )
            for isolation in ("read_uncommitted", "read_committed")
        ]
        metadata = self._consumers[0].list_topics(timeout=30)
        self.partitions = [
            TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)
        ]

    def open_transaction(self) -> bool:
        """True while some partition holds records of a transaction not yet committed or
        aborted."""
        high, stable = (
            [c.get_watermark_offsets(tp, 10, cached=False)[1] for tp in self.partitions]
            for c in self._consumers
        )
        return any(h > s for h, s in zip(high, stable, strict=True))

    def close(self) -> None:
        for consumer in self._consumers:
            consumer.close()


def input_index(bootstrap: str, topics: Topics) -> dict[tuple[int, int], tuple[bytes | None, str]]:
    """(partition, offset) -> (key, event_id) of every input record that decodes as a claim."""
    decode = Wire.build(client_settings(bootstrap, topics)).decoder.decode
    index = {}
    for r in read_all(bootstrap, [topics.input]):
        claim = decode(r.value)
        index[(r.partition, r.offset)] = (r.key, claim["event_id"])
    return index


def assert_exactly_once(decisions: Sequence[Record], expected_event_ids: Collection[str]) -> None:
    """One decision per expected event: none lost, none duplicated, nothing else."""
    counts = Counter(r.event_id for r in decisions)
    duplicated = {e: n for e, n in counts.items() if n > 1}
    missing = set(expected_event_ids) - set(counts)
    unexpected = set(counts) - set(expected_event_ids)
    problems = (
        f"{len(decisions)} decisions for {len(expected_event_ids)} events: "
        f"{len(duplicated)} duplicated (e.g. {sorted(duplicated.items())[:3]}), "
        f"{len(missing)} lost (e.g. {sorted(missing)[:3]}), "
        f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:3]})"
    )
    assert not duplicated, problems
    assert not missing, problems
    assert not unexpected, problems
    assert len(decisions) == len(expected_event_ids)


def validate_offline(claims: Sequence[dict[str, Any]], work_dir: Path) -> dict[str, Any]:
    """event_id -> `outcome_of` each decision of the offline `validate` path (JSON Lines in,
    JSON Lines out, no Kafka): the oracle the streamed decisions must match."""
    claims_file, decisions_file = work_dir / "claims.jsonl", work_dir / "decisions.jsonl"
    claims_file.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in claims))
    with decisions_file.open("wb") as out:
        # One stream in file order, with the claim history, as the service decides it.
        history = History(Settings().history.retention_days)
        summary = validate(str(claims_file), Engine.load(), out, io.StringIO(), history=history)
    assert summary.claims + summary.resent == len(claims), summary.describe()
    assert not summary.unreadable, summary.describe()
    decisions = [orjson.loads(line) for line in decisions_file.read_bytes().splitlines()]
    return {d["event_id"]: outcome_of(d) for d in decisions}


def decide_offline(claim: dict[str, Any], engine: Engine) -> tuple[str, str, list[Any]]:
    """(decision, rule-set version, sorted reasons) of one JSON-form claim, engine alone."""
    decision = engine.decide(claim_from_json(claim))
    reasons = [
        {"rule_id": r.rule_id, "line_number": r.line_number, "carc": r.carc, "rarc": r.rarc,
         "message": r.message}
        for r in decision.reasons
    ]  # fmt: skip
    return decision.decision, decision.rule_set_version, reason_set(reasons)


def outcome_of(decision: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    """(decision, rule-set version, sorted reasons) of a ClaimDecision (record or JSON form)."""
    return decision["decision"], decision["rule_set_version"], reason_set(decision["reasons"])


def reason_set(reasons: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["rule_id"], r["line_number"] or 0, r["carc"] or "", r["rarc"] or "", r["message"])
        for r in reasons
    )


# --- the validator process -----------------------------------------------------------------


class Validator:
    """One logical validator instance (stable transactional id) run as a subprocess.

    Its JSON log (stderr) goes to `<log_dir>/<name>-<run>.log`, one file per process.
    """

    def __init__(
        self,
        name: str,
        bootstrap: str,
        topics: Topics,
        group_id: str,
        log_dir: Path,
        *,
        transactional_id: str | None = None,
        env: Mapping[str, str] | None = None,
        kafka_properties: Mapping[str, Any] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.args = list(args)  # after `run`
        self.log_dir = log_dir
        self.transactional_id = transactional_id or f"it-{name}-{uuid.uuid4().hex[:8]}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_VALIDATOR_")}
        self.env: dict[str, str] = {
            **base,
            "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            **topics.env(),
            "INFUSION_VALIDATOR_GROUP_ID": group_id,
            "INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID": self.transactional_id,
            "INFUSION_VALIDATOR_KAFKA__PROPERTIES": orjson.dumps(
                {**FAST_GROUP, **(kafka_properties or {})}
            ).decode(),
            "INFUSION_VALIDATOR_HTTP__HOST": "127.0.0.1",
            "INFUSION_VALIDATOR_HTTP__PORT": "0",
            # SIGABRT then dumps every thread's Python stack into the log (see close()).
            "PYTHONFAULTHANDLER": "1",
            **(env or {}),
        }
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"{name}-0.log"

    # lifecycle

    def start(self) -> Validator:
        """Start a new process for this instance (same transactional id as the last one)."""
        assert not self.running, f"{self.name} is already running"
        self.runs += 1
        self.log_path = self.log_dir / f"{self.name}-{self.runs}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "consumer", "run", *self.args],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, an open transaction is left behind."""
        assert self.proc is not None, f"{self.name} was never started"
        assert self.running, f"{self.name} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took). Fails if not gone within `timeout`."""
        assert self.proc is not None, f"{self.name} was never started"
        assert self.running, f"{self.name} is not running"
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running {timeout:.0f}s after SIGTERM\n{self.tail()}"
            ) from None
        return code, time.monotonic() - started

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not exit within {timeout:.0f}s\n{self.tail()}"
            ) from None

    def close(self) -> None:
        """Teardown: kill the process if a test left it running, after SIGABRT has written
        its threads' stacks to the log (so a hang shows where it hangs)."""
        if self.proc is not None and self.running:
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    # what it says

    def output(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> list[dict[str, Any]]:
        """This run's log: JSON lines parsed, anything else as {"raw": line}."""
        entries = []
        for line in self.output().splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                entry = {"raw": line}
            entries.append(entry if isinstance(entry, dict) else {"raw": line})
        return entries

    def events(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.logs() if e.get("event") == event]

    def tail(self, lines: int = 25) -> str:
        text = "\n".join(self.output().splitlines()[-lines:])
        return f"--- {self.log_path.name} (last {lines} lines) ---\n{text}"

    def wait_for_event(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            assert self.running, f"{self.name} exited with {self._code()}\n{self.tail()}"
            hits = self.events(event)
            return hits[-1] if hits else None

        return wait_for(found, lambda: f"'{event}' from {self.name}\n{self.tail()}", timeout)

    def wait_assigned(self, timeout: float = 60.0) -> Validator:
        """Until the process has joined its group and got partitions (its signal handlers are
        installed by then, so SIGTERM means a clean stop)."""
        self.wait_for_event("partitions assigned", timeout)
        return self

    def _code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    # metrics

    @property
    def port(self) -> int:
        return int(self.wait_for_event("http endpoints up", 60)["port"])

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, lbl), v in self.metrics().items() if n == name and wanted <= lbl)
