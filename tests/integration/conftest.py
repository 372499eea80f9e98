"""Fixtures for tests against a real Kafka broker (SPEC §8); every test here is `integration`.

The broker is chosen once per session, first that applies:
1. `KAFKA_BOOTSTRAP_SERVERS` is set: that cluster, no lifecycle (`local_kafka` is None);
2. a Docker engine answers: testcontainers' Kafka module (KRaft), image from
   `KAFKA_TESTCONTAINERS_IMAGE`;
3. otherwise `consumer.local.kafka.LocalKafka`: Apache Kafka jars from Maven Central, run with
   the local Java.
(also when Docker answers but the container will not start, e.g. the image cannot be pulled).
If none can be had the tests fail with the reason; they are never skipped.

The schema registry (SPEC §8) likewise: `SCHEMA_REGISTRY_URL` if set (a Confluent-compatible
API, e.g. `http://host:8081` or Apicurio's `…/apis/ccompat/v7`), else a local Apicurio Registry
(`consumer.local.registry`, built from Maven Central by `make setup`).
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.errors import KafkaSetupError, LocalSetupError
from consumer.local.kafka import LocalKafka
from consumer.local.registry import LocalRegistry
from consumer.stream.producing import wait_until_led

_HERE = Path(__file__).parent
# cp-kafka 7.9 = Apache Kafka 3.9; it is what this testcontainers class's KRaft set-up targets.
_DEFAULT_IMAGE = "confluentinc/cp-kafka:7.9.0"
_TIMEOUT = 30.0

TopicFactory = Callable[..., str]
# The SCRAM-SHA-512 user of the local broker's SASL_SSL listener. The password is new each
# session, so a test can look for it in logs and be sure it was never printed; tests get it from
# the `scram_password` fixture (a module importing this file would get a copy with another one).
SCRAM_USER = "it-validator"
_SCRAM_PASSWORD = secrets.token_urlsafe(18)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class Broker:
    bootstrap_servers: str
    kind: str  # "external" | "testcontainers" | "local"
    local: LocalKafka | None = None


def _docker_answers() -> bool:
    try:
        import docker  # imported here: only this probe needs it

        return bool(docker.from_env(timeout=3).ping())
    except Exception:  # no SDK, no socket, no daemon, refused: all mean "no Docker here"
        return False


def _start_container() -> Any | None:
    """A started testcontainers Kafka (KRaft), or None (with a warning) if it would not start."""
    from testcontainers.community.kafka import KafkaContainer

    image = os.environ.get("KAFKA_TESTCONTAINERS_IMAGE", _DEFAULT_IMAGE)
    container = (
        KafkaContainer(image)
        .with_kraft()
        # The module leaves these at Kafka's defaults (3 and 2): on one broker the first
        # transactional producer would wait forever for __transaction_state.
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    try:
        return container.start(timeout=120)
    except Exception as exc:  # e.g. the image cannot be pulled: fall back to the local broker
        warnings.warn(f"Docker answers but {image} did not start: {exc}", stacklevel=1)
        with suppress(Exception):
            container.stop()
        return None


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """The session's broker (see the module docstring for the order of choice)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        yield Broker(external, "external")
        return
    container = _start_container() if _docker_answers() else None
    if container is not None:
        try:
            yield Broker(container.get_bootstrap_server(), "testcontainers")
        finally:
            container.stop()
        return
    kafka, failure = LocalKafka(scram_users={SCRAM_USER: _SCRAM_PASSWORD}), ""
    try:
        kafka.start()
    except KafkaSetupError as exc:  # start() killed any JVM; keep the work dir if it has a log
        failure = str(exc)
        if not kafka.log_path.exists():
            kafka.close()
    if failure:  # failed outside the except block, so no chained traceback buries the reason
        pytest.fail(
            "no Kafka broker for the integration tests: KAFKA_BOOTSTRAP_SERVERS is unset, no "
            f"Docker broker could be started, and the local broker failed: {failure}",
            pytrace=False,
        )
    try:
        yield Broker(kafka.bootstrap_servers, "local", kafka)
    finally:
        kafka.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Broker) -> str:
    """`bootstrap.servers` of the session's broker."""
    return kafka_broker.bootstrap_servers


@pytest.fixture(scope="session")
def local_kafka(kafka_broker: Broker) -> LocalKafka | None:
    """The LocalKafka we started (restart/kill it in broker-failure tests), else None."""
    return kafka_broker.local


@dataclass(frozen=True)
class Registry:
    url: str
    kind: str  # "external" | "local"
    local: LocalRegistry | None = None


def start_local_registry() -> LocalRegistry:
    """A started LocalRegistry, or the test fails with the reason (never skips)."""
    registry, failure = LocalRegistry(), ""
    try:
        registry.start()
    except LocalSetupError as exc:  # start() killed the JVM; the work dir keeps its log
        failure = str(exc)
    if failure:  # outside the except block: no chained traceback buries the reason
        pytest.fail(
            "no schema registry for the integration tests: SCHEMA_REGISTRY_URL is unset and "
            f"the local one failed: {failure}",
            pytrace=False,
        )
    return registry


@pytest.fixture(scope="session")
def schema_registry() -> Iterator[Registry]:
    """The session's Confluent-compatible schema registry (see the module docstring)."""
    external = os.environ.get("SCHEMA_REGISTRY_URL", "").strip()
    if external:
        yield Registry(external, "external")
        return
    registry = start_local_registry()
    try:
        yield Registry(registry.url, "local", registry)
    finally:
        registry.close()


@pytest.fixture(scope="session")
def scram_password() -> str:
    """The password of `SCRAM_USER` on the SASL_SSL listener of `secure_kafka`."""
    return _SCRAM_PASSWORD


@pytest.fixture(scope="session")
def secure_kafka(kafka_broker: Broker) -> Iterator[LocalKafka]:
    """A local broker with a SASL_SSL listener (SCRAM-SHA-512 user `SCRAM_USER`, a CA made by
    the project): the session's own when it is local, else one started for these tests."""
    if kafka_broker.local is not None and kafka_broker.local.scram_users:
        yield kafka_broker.local
        return
    kafka = LocalKafka(scram_users={SCRAM_USER: _SCRAM_PASSWORD})
    try:
        kafka.start()
    except KafkaSetupError as exc:
        pytest.fail(f"no local broker with a SASL_SSL listener: {exc}", pytrace=False)
    try:
        yield kafka
    finally:
        kafka.close()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def topic_factory(
    kafka_admin: AdminClient, request: pytest.FixtureRequest
) -> Iterator[TopicFactory]:
    """`topic_factory(partitions=1, *, prefix=None, config=None, replication_factor=-1) -> name`.

    Creates a uniquely named topic, waits until every partition has a leader, and deletes it at
    teardown. `replication_factor=-1` takes the broker's default.
    """
    created: list[str] = []
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40].strip("-")

    def make(
        partitions: int = 1,
        *,
        prefix: str | None = None,
        config: Mapping[str, str] | None = None,
        replication_factor: int = -1,
    ) -> str:
        name = f"it-{prefix or base}-{uuid.uuid4().hex[:8]}"
        new = NewTopic(name, partitions, replication_factor, config=dict(config or {}))
        futures: dict[str, Any] = kafka_admin.create_topics([new], request_timeout=_TIMEOUT)
        futures[name].result(timeout=_TIMEOUT)
        created.append(name)
        wait_until_led(kafka_admin, {name: partitions}, _TIMEOUT)
        return name

    yield make
    if created:
        for future in kafka_admin.delete_topics(created, request_timeout=_TIMEOUT).values():
            with suppress(KafkaException):  # a test may have deleted it already
                future.result(timeout=_TIMEOUT)


@pytest.fixture
def unique_group_id(request: pytest.FixtureRequest) -> str:
    """A consumer-group id no other test (or earlier run on the same broker) has used."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40].strip("-")
    return f"it-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def validators(
    kafka_bootstrap: str, unique_group_id: str, tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    """`validators(topics, name="validator", *, group_id=None, **options) -> Validator`: the
    validator as a real subprocess on `topics` (see `streaming.Validator`), in this test's
    consumer group unless told otherwise; any process still running at teardown is killed."""
    from tests.integration.streaming import Validator

    made: list[Validator] = []
    log_dir = tmp_path / "validator-logs"
    log_dir.mkdir()

    def make(
        topics: Any, name: str = "validator", *, group_id: str | None = None, **options: Any
    ) -> Validator:
        validator = Validator(
            name, kafka_bootstrap, topics, group_id or unique_group_id, log_dir, **options
        )
        made.append(validator)
        return validator

    yield make
    for validator in made:
        validator.close()


@pytest.fixture
def service_settings(
    kafka_bootstrap: str, topic_factory: TopicFactory, unique_group_id: str
) -> Any:
    """Settings for an in-process validator on fresh topics (a 3-partition input) in this
    test's consumer group."""
    from consumer.settings import load_settings

    return load_settings(
        kafka={"bootstrap_servers": kafka_bootstrap},
        topics={
            "input": topic_factory(3, prefix="in"),
            "accepted": topic_factory(3, prefix="acc"),
            "pended": topic_factory(3, prefix="pend"),
            "dlq": topic_factory(1, prefix="dlq"),
        },
        group_id=unique_group_id,
        processing={"transactional_id": f"{unique_group_id}-svc", "batch_size": 250},
        http={"port": 0},
    )
