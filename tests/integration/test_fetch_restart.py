"""The loop's fetch restart on a real broker.

librdkafka starts an assigned partition only once the group coordinator has answered its
committed offset; when that answer is an error, the partition is never started, and nothing
asks again until the application assigns it anew (the chaos test saw three partitions sit
`stopped` after a broker restart). Reproduced here for real: a broker with an authorizer
refuses the group's committed-offset lookup (an ACL denying DESCRIBE on the group) just while
the validator's partitions are assigned again; once the ACL is gone, plain librdkafka would stay
stuck for good, and the validator restarts the fetch and decides the rest.

And a restart forced twice mid-stream under load (the decision to restart is the one thing
stood in for): every event is decided once, and as an offline `validate` of the stream decides
it, so the claim history is neither lost nor applied twice across a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from consumer.demo.samples import generate_claims
from consumer.local.kafka import LocalKafka
from consumer.settings import Settings, load_settings
from consumer.stream.fetching import FetchStates, NotFetching
from consumer.stream.producing import create_topics, produce_claims
from tests.integration.inprocess import InProcessValidator
from tests.integration.streaming import (
    GroupWatcher,
    assert_exactly_once,
    outcome_of,
    read_all,
    validate_offline,
    wait_for,
)

CLAIMS = 6000
# Out of `active` this long before a restart (30 s in the service): the statistics that notice
# come every 5 s, so the stalled test takes seconds rather than most of a minute.
RESTART_AFTER = 3.0


class RestartAt(FetchStates):
    """A restart due once the loop has processed each of `counts` records (the statistics'
    fetch states are still tracked, and a real stall still restarts)."""

    def __init__(self, counts: list[int], processed: Callable[[], int]) -> None:
        super().__init__()
        self.counts = counts
        self.processed = processed

    def restart_due(self) -> list[NotFetching]:
        if self.counts and self.processed() >= self.counts[0]:
            self.counts.pop(0)
            return [NotFetching(0, "stopped", 31.0)]
        return super().restart_due()


def check_decisions(settings: Settings, claims: list[dict[str, object]], work: Path) -> None:
    topics = settings.topics
    decisions = read_all(settings.kafka.bootstrap_servers, [topics.accepted, topics.pended])
    expected = validate_offline(claims, work)
    assert_exactly_once(decisions, expected)
    wrong = [r.event_id for r in decisions if outcome_of(r.decision) != expected[r.event_id]]
    assert not wrong, f"{len(wrong)} decided otherwise than offline, e.g. {wrong[:3]}"


def test_a_fetch_restarted_mid_stream_keeps_exactly_once_and_the_history(
    service_settings: Settings, tmp_path: Path
) -> None:
    claims = list(generate_claims(CLAIMS, 211))  # with re-sent events, duplicates, overlaps
    produce_claims(service_settings, claims)
    validator = InProcessValidator(service_settings)
    pipeline = validator.pipeline
    pipeline.fetching = RestartAt([1500, 4000], lambda: pipeline.processed)
    with validator:
        validator.wait_processed(CLAIMS, timeout=180)
    assert validator.logged("restarting the fetch of partitions not fetched from") == 2
    registry = validator.service.registry
    assert registry.get_sample_value("infusion_validator_fetch_restarts_total") == 2
    check_decisions(service_settings, claims, tmp_path)


# --- a real stall: the committed-offset lookup refused while the partitions are assigned ------


@pytest.fixture(scope="module")
def authorizing_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A broker of its own that checks ACLs; anything without an ACL is allowed."""
    kafka = LocalKafka(
        tmp_path_factory.mktemp("authorizing-kafka"),
        extra_config={
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
        },
    )
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.close()


def _group_acl(group: str, operation: AclOperation, permission: AclPermissionType) -> AclBinding:
    return AclBinding(
        ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:*", "*", operation, permission
    )


def _settings(bootstrap: str, group: str) -> Settings:
    """Settings for a validator on fresh topics of this broker (a 3-partition input)."""
    names = {role: f"it-restart-{role}-{group[-8:]}" for role in ("in", "acc", "pend", "dlq")}
    settings = load_settings(
        kafka={"bootstrap_servers": bootstrap},
        topics={"input": names["in"], "accepted": names["acc"], "pended": names["pend"],
                "dlq": names["dlq"]},
        group_id=group,
        processing={"transactional_id": f"{group}-svc", "batch_size": 250},
        http={"port": 0},
    )  # fmt: skip
    create_topics(settings, {name: 1 if role == "dlq" else 3 for role, name in names.items()})
    return settings


class Member:
    """Another member of the group, polling on a thread so that rebalances complete; it reads
    the records of its partitions and commits nothing."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        self.consumer.subscribe([topic])
        self.partitions: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.consumer.consume(100, 0.2)
            self.partitions = sorted(tp.partition for tp in self.consumer.assignment())

    def leave(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.consumer.close()


def test_partitions_whose_committed_offsets_could_not_be_read_are_fetched_again(
    authorizing_kafka: LocalKafka, unique_group_id: str, tmp_path: Path
) -> None:
    bootstrap, group = authorizing_kafka.bootstrap_servers, unique_group_id
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # Once a group has an ACL, only what an ACL allows is: everything, to begin with.
    admin.create_acls([_group_acl(group, AclOperation.ALL, AclPermissionType.ALLOW)])
    settings = _settings(bootstrap, group)
    claims = list(generate_claims(CLAIMS, 212))
    produce_claims(settings, claims)
    other = Member(bootstrap, group, settings.topics.input)
    wait_for(lambda: len(other.partitions) == 3, "the other member to own the input", 60)
    validator = InProcessValidator(settings)
    pipeline = validator.pipeline
    pipeline.fetching = FetchStates(restart_after=RESTART_AFTER)
    deny = _group_acl(group, AclOperation.DESCRIBE, AclPermissionType.DENY)
    try:
        validator.start()
        # The validator decides its share of the partitions, the other member holds the rest.
        wait_for(lambda: pipeline.assigned and len(other.partitions) < 3, "a shared group", 60)
        mine = {p for _, p in pipeline.assigned}
        watermarks = GroupWatcher(bootstrap, "it-watermarks", settings.topics.input)
        ends = watermarks.ends()
        watermarks.close()
        share = sum(ends[p] for p in mine)
        wait_for(lambda: pipeline.processed == share, "the validator's share decided", 60)
        # Committed-offset lookups of the group refused; the other member leaves, so every
        # partition is assigned to the validator, which cannot read where to start them.
        admin.create_acls([deny])[deny].result(30)
        time.sleep(2)  # the ACL reaches the broker's authorizer
        other.leave()
        wait_for(lambda: len(pipeline.assigned) == 3, "the validator to own the input", 60)
        wait_for(lambda: validator.logged("consumer error") > 0, "the lookup to be refused", 30)
        stalled_at = pipeline.processed
        for future in admin.delete_acls([AclBindingFilter(
            ResourceType.GROUP, group, ResourcePatternType.LITERAL, "User:*", "*",
            AclOperation.DESCRIBE, AclPermissionType.DENY,
        )]).values():  # fmt: skip
            future.result(30)
        # Nothing more would be fetched without a new assignment: librdkafka does not ask again.
        validator.wait_processed(CLAIMS, timeout=120)
    finally:
        validator.stop()
    assert mine != {0, 1, 2}
    assert stalled_at == share
    assert validator.logged("restarting the fetch of partitions not fetched from") >= 1
    check_decisions(settings, claims, tmp_path)
