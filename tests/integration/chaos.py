"""Chaos (SPEC §10) in one run: claims produced at a paced rate by a process of their own, the
validator killed with SIGKILL at random points and restarted (same transactional id and group
instance id, as a StatefulSet pod comes back), the broker hard-restarted under it; afterwards
everything is read back with read_committed and judged: exactly one decision per input event,
on the right topic, from the right source record.

    python -m tests.integration.chaos --claims 200000 --kills 10 --broker-restarts 1   # make chaos

`test_chaos.py` runs a small variant in the suite. `judge()` is pure, and the unit tests feed it
tampered read-backs to prove it counts what it must (tests/unit/test_chaos_verdict.py). It takes
the expected outcome of each event as an option: today the offline `validate` of the same
claims; once the history rules exist, an offline run of the same stream in partition order.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.demo.samples import generate_claims
from consumer.local.kafka import LocalKafka
from consumer.records.schemas import claim_schema
from consumer.stream.producing import wait_until_led
from tests.integration.streaming import (
    REPO,
    GroupWatcher,
    LogEnds,
    Record,
    Topics,
    Validator,
    outcome_of,
    read_all,
    validate_offline,
    wait_for,
)

Outcome = tuple[str, str, list[Any]]
_CLAIM = claim_schema()
FETCH_RESTARTED = "restarting the fetch of partitions not fetched from"  # the loop's log line


# --- the verdict (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class InputEvent:
    event_id: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Decided:
    """One decision read back: where it is, what it says, which input record it names."""

    event_id: str
    topic: str
    decision: str
    source_partition: int
    source_offset: int
    outcome: Outcome | None = None
    decided_at: datetime | None = None  # to find the decision in the logs


@dataclass
class Verdict:
    events: int
    decisions: int
    lost: list[str] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    wrong_source: list[str] = field(default_factory=list)
    differing: list[str] | None = None  # None: no expected outcomes were given
    # The first few duplicated events, each with where and when its decisions were made.
    duplicates_seen: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        problems = (self.lost, self.duplicated, self.unexpected, self.misrouted, self.wrong_source)
        return not any(problems) and not self.differing

    def describe(self) -> str:
        line = (
            f"{self.decisions} decisions for {self.events} events: {len(self.lost)} lost, "
            f"{len(self.duplicated)} duplicated, {len(self.unexpected)} unexpected, "
            f"{len(self.misrouted)} on the wrong topic, {len(self.wrong_source)} naming the "
            "wrong source record"
        )
        if self.differing is not None:
            line += f"; {len(self.differing)} differing from the expected outcome"
        return "\n    ".join([line, *self.duplicates_seen])


def judge(
    inputs: Sequence[InputEvent],
    decided: Sequence[Decided],
    *,
    accepted: str,
    pended: str,
    expected_outcomes: Mapping[str, Outcome] | None = None,
) -> Verdict:
    """Exactly one decision per input event, ACCEPTED on `accepted` and PENDED on `pended`,
    whose source coordinates are the event's own; with `expected_outcomes`, each decision's
    (decision, rule-set version, reasons) equal to the expected one."""
    where: dict[str, tuple[int, int]] = {}
    for e in inputs:  # a re-sent event is decided (and named) at its first occurrence
        where.setdefault(e.event_id, (e.partition, e.offset))
    counts = Counter(d.event_id for d in decided)
    verdict = Verdict(events=len(where), decisions=len(decided))
    verdict.lost = sorted(set(where) - set(counts))
    verdict.duplicated = {e: n for e, n in counts.items() if n > 1}
    for event_id in sorted(verdict.duplicated, key=lambda e: where.get(e, (-1, -1)))[:5]:
        copies = [
            f"{d.source_partition}:{d.source_offset} at "
            + (d.decided_at.strftime("%H:%M:%S.%f") if d.decided_at else "?")
            for d in decided
            if d.event_id == event_id
        ]
        verdict.duplicates_seen.append(
            f"{event_id} (first at {where.get(event_id)}) decided from {', '.join(copies)}"
        )
    verdict.unexpected = sorted(set(counts) - set(where))
    home = {"ACCEPTED": accepted, "PENDED": pended}
    for d in decided:
        if home.get(d.decision) != d.topic:
            verdict.misrouted.append(d.event_id)
        if d.event_id in where and where[d.event_id] != (d.source_partition, d.source_offset):
            verdict.wrong_source.append(d.event_id)
    if expected_outcomes is not None:
        verdict.differing = sorted(
            d.event_id for d in decided if expected_outcomes.get(d.event_id) != d.outcome
        )
    return verdict


def decided_from(record: Record, with_outcome: bool) -> Decided:
    decision = record.decision
    source = decision["source"]
    return Decided(
        decision["event_id"],
        record.topic,
        decision["decision"],
        source["partition"],
        source["offset"],
        outcome_of(decision) if with_outcome else None,
        decision["decided_at"],
    )


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    claims: int
    rate: float  # claims per second from the paced producer
    kills: int
    broker_restarts: int
    seed: int = 2026
    partitions: int = 3
    batch_size: int = 200  # small transactions: many of them, so a kill often finds one open
    compare_offline: bool = True


@dataclass
class Kill:
    committed: int  # input records committed when it was killed
    in_transaction: bool
    # From the kill to the restarted process's first commit; None when the paced input had
    # ended and was all committed (nothing to commit, so nothing to time).
    recovery_seconds: float | None


@dataclass
class BrokerRestart:
    committed: int
    down_seconds: float  # from the kill to the broker answering again
    recovery_seconds: float | None  # from the broker's return to the validator's next commit
    # The loop's restarts of a fetch librdkafka had left stopped, up to that commit: the usual
    # reason for a slow recovery (consumer.stream.fetching).
    fetch_restarts: int = 0


@dataclass
class Report:
    plan: Plan
    kills: list[Kill] = field(default_factory=list)
    broker_restarts: list[BrokerRestart] = field(default_factory=list)
    verdict: Verdict | None = None
    processes: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        plan = self.plan
        lines = [
            f"chaos: {plan.claims} claims at {plan.rate:.0f}/s over {plan.partitions} "
            f"partitions; {len(self.kills)} kills -9, {len(self.broker_restarts)} broker hard "
            f"restart(s); {self.processes} validator processes; {self.seconds:.0f} s"
        ]
        for n, kill in enumerate(self.kills, 1):
            inside = "yes" if kill.in_transaction else "no "
            lines.append(
                f"  kill {n:2d} at {kill.committed:7d} committed, inside an open transaction: "
                f"{inside}, recovery {_seconds(kill.recovery_seconds)}"
            )
        for n, restart in enumerate(self.broker_restarts, 1):
            lines.append(
                f"  broker restart {n} at {restart.committed} committed: broker back after "
                f"{restart.down_seconds:.1f} s, validator committing "
                f"{_seconds(restart.recovery_seconds)} after the broker's return, same process, "
                f"{restart.fetch_restarts} fetch restart(s)"
            )
        if self.verdict is not None:
            lines.append(f"  read back (read_committed): {self.verdict.describe()}")
        recoveries = [k.recovery_seconds for k in self.kills if k.recovery_seconds is not None]
        if recoveries:
            lines.append(
                f"  recovery per kill: min {min(recoveries):.1f} s, max {max(recoveries):.1f} s, "
                f"mean {sum(recoveries) / len(recoveries):.1f} s"
            )
        return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "(input ended, all committed)" if value is None else f"{value:5.1f} s"


def run_chaos(
    kafka: LocalKafka, topics: Topics, plan: Plan, log_dir: Path, rng: random.Random
) -> Report:
    """The whole run on `kafka` (its PLAINTEXT listener), which it restarts."""
    started = time.monotonic()
    report = Report(plan)
    bootstrap = kafka.bootstrap_servers
    group_id = f"chaos-{uuid.uuid4().hex[:8]}"
    validator = Validator(
        "chaos",
        bootstrap,
        topics,
        group_id,
        log_dir,
        env={
            "INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": str(plan.batch_size),
            "INFUSION_VALIDATOR_GROUP_INSTANCE_ID": f"chaos-{group_id}",
        },
    )
    producer = _paced_producer(bootstrap, topics, plan, log_dir)
    group = GroupWatcher(bootstrap, group_id, topics.input)
    ends = LogEnds(bootstrap, topics.outputs)
    try:
        validator.start()
        events = ["kill"] * plan.kills + ["broker"] * plan.broker_restarts
        rng.shuffle(events)
        # Spread over the run: on average 3/4 of an equal share of the input between events,
        # so that all of them happen while input still flows.
        share = plan.claims // (len(events) + 1)
        for event in events:
            _progress_by(group, validator, producer, rng.randint(share // 2, share))
            if event == "kill":
                report.kills.append(_kill_and_restart(validator, group, ends, producer, rng))
            else:
                report.broker_restarts.append(_restart_broker(kafka, validator, group, producer))
        assert producer.wait(plan.claims / plan.rate + 600) == 0, "the paced producer failed"
        group.wait_caught_up(300, lambda: f"\n{validator.tail()}")
        assert validator.running, validator.tail()
        report.processes = validator.runs
        code, _ = validator.terminate(timeout=60)
        assert code == 0, validator.tail()
    finally:
        if producer.poll() is None:
            producer.kill()
        group.close()
        ends.close()
        validator.close()
    report.verdict = read_back(bootstrap, topics, plan)
    report.seconds = time.monotonic() - started
    return report


def read_back(bootstrap: str, topics: Topics, plan: Plan) -> Verdict:
    """Judge what downstream sees: the input and the decision topics, read_committed."""
    inputs = [
        InputEvent(_event_id(r.value), r.partition, r.offset)
        for r in read_all(bootstrap, [topics.input])
    ]
    decided = [decided_from(r, plan.compare_offline) for r in read_all(bootstrap, topics.decisions)]
    expected = None
    if plan.compare_offline:
        with tempfile.TemporaryDirectory() as work:
            claims = list(generate_claims(plan.claims, plan.seed))
            expected = validate_offline(claims, Path(work))
    verdict = judge(
        inputs,
        decided,
        accepted=topics.accepted,
        pended=topics.pended,
        expected_outcomes=expected,
    )
    dead = read_all(bootstrap, [topics.dlq])
    assert not dead, f"{len(dead)} dead letters from sample claims"
    return verdict


def _event_id(value: bytes | None) -> str:
    """The event id of an input record, read by fastavro (independent of the product)."""
    assert value is not None
    record = fastavro.schemaless_reader(io.BytesIO(value), _CLAIM, _CLAIM)
    return str(record["event_id"])  # type: ignore[call-overload,index]


def _paced_producer(
    bootstrap: str, topics: Topics, plan: Plan, log_dir: Path
) -> subprocess.Popen[bytes]:
    """`produce-sample` in a process of its own, at `plan.rate` claims/s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_VALIDATOR_")}
    command = [
        sys.executable, "-m", "consumer", "produce-sample", "-n", str(plan.claims),
        "--seed", str(plan.seed), "--bootstrap", bootstrap, "--topic", topics.input,
        "--rate", str(plan.rate),
    ]  # fmt: skip
    with (log_dir / "producer.log").open("wb") as log:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )


def _progress_by(
    group: GroupWatcher, validator: Validator, producer: subprocess.Popen[bytes], records: int
) -> None:
    """Until `records` more input records are committed (or all the input, once produced)."""
    target = max(0, group.total_committed()) + records

    def reached() -> bool:
        assert validator.running, f"the validator exited\n{validator.tail()}"
        if group.total_committed() >= target:
            return True
        return producer.poll() is not None and group.caught_up()

    wait_for(reached, lambda: f"{target} committed\n{validator.tail()}", 300, interval=0.05)


def _next_commit(group: GroupWatcher, validator: Validator, after: int, timeout: float) -> None:
    def moved() -> bool:
        assert validator.running, f"the validator exited\n{validator.tail()}"
        return group.total_committed() > after

    wait_for(moved, lambda: f"a commit past {after}\n{validator.tail()}", timeout, interval=0.05)


def _kill_and_restart(
    validator: Validator,
    group: GroupWatcher,
    ends: LogEnds,
    producer: subprocess.Popen[bytes],
    rng: random.Random,
) -> Kill:
    in_transaction = False
    if rng.random() < 0.5:  # half the kills wait for a transaction with records in the log
        deadline = time.monotonic() + 10
        while not in_transaction and time.monotonic() < deadline:
            in_transaction = ends.open_transaction()
    committed = group.total_committed()
    flowing = producer.poll() is None or not group.caught_up()  # something left to commit
    killed = time.monotonic()
    validator.kill()
    validator.start()
    # The dead process's last commit can still land after the kill (its EndTxn was sent):
    # time the new process's commits only, counted from its assignment on.
    validator.wait_assigned(120)
    if not flowing:
        return Kill(committed, in_transaction, None)
    _next_commit(group, validator, group.total_committed(), 120)
    return Kill(committed, in_transaction, time.monotonic() - killed)


def _restart_broker(
    kafka: LocalKafka,
    validator: Validator,
    group: GroupWatcher,
    producer: subprocess.Popen[bytes],
) -> BrokerRestart:
    committed = group.total_committed()
    flowing = producer.poll() is None or not group.caught_up()
    runs = validator.runs
    restarts_before = len(validator.events(FETCH_RESTARTED))
    down = time.monotonic()
    kafka.restart(hard=True)  # returns once the broker answers again
    back = time.monotonic()
    if flowing:
        _next_commit(group, validator, committed, 120)
    else:
        wait_for(group.caught_up, "the group to answer again", 120)
    assert validator.runs == runs, "the validator was restarted"
    recovery = time.monotonic() - back if flowing else None
    fetch_restarts = len(validator.events(FETCH_RESTARTED)) - restarts_before
    return BrokerRestart(committed, back - down, recovery, fetch_restarts)


def create_topics(bootstrap: str, partitions: int) -> Topics:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    tag = uuid.uuid4().hex[:8]
    topics = Topics(*(f"chaos-{kind}-{tag}" for kind in ("in", "accepted", "pended", "dlq")))
    counts = {topics.input: partitions, topics.accepted: 3, topics.pended: 3, topics.dlq: 1}
    futures = admin.create_topics([NewTopic(t, n, 1) for t, n in counts.items()])
    for future in futures.values():
        future.result(60)
    wait_until_led(admin, counts, 60)
    return topics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.chaos", description=__doc__)
    parser.add_argument("--claims", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="claims/s (paced producer)")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-offline", action="store_true", help="skip the offline comparison")
    parser.add_argument(
        "--log-dir", type=Path, help="keep the processes' logs here (default: a temporary one)"
    )
    parser.add_argument(
        "--broker-dir", type=Path, help="keep the broker's data and logs here (default: temporary)"
    )
    args = parser.parse_args(argv)
    plan = Plan(
        args.claims, args.rate, args.kills, args.broker_restarts, args.seed,
        compare_offline=not args.no_offline,
    )  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="chaos-") as work,
        LocalKafka(args.broker_dir) as kafka,
    ):
        log_dir = args.log_dir or Path(work)
        log_dir.mkdir(parents=True, exist_ok=True)
        topics = create_topics(kafka.bootstrap_servers, plan.partitions)
        report = run_chaos(kafka, topics, plan, log_dir, random.Random(plan.seed))
    print(report.describe())
    recoveries = [r.recovery_seconds for r in report.broker_restarts]
    met = (
        report.verdict is not None
        and report.verdict.ok
        and len(report.kills) >= 10
        and len(report.broker_restarts) >= 1
        and all(seconds is not None and seconds <= 30 for seconds in recoveries)
    )
    print(f"SPEC §10 chaos target {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
