"""Start-up checks (SPEC §10): whatever can be wrong with the Kafka side is found before the
service does anything to Kafka - above all before `init_transactions`, which fences a running
instance with the same transactional id.

- `check_client_properties`: throwaway clients built from the service's own configuration;
  librdkafka refuses an unknown property or a bad value when a client is created.
- `check_cluster`: the brokers answer, they accept our credentials and TLS, every topic exists;
  librdkafka's endless retries become one line naming what is wrong. It also reads the input's
  and the DLQ's `max.message.bytes`, so an oversized record can go to the DLQ whole when the
  DLQ holds it, and warns when the DLQ cannot hold what the input accepts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, untyped
    AdminClient,
    ConfigResource,
    ResourceType,
)

from consumer.errors import ConfigError, KafkaSetupError
from consumer.settings import Settings
from consumer.stream.clients import common_config, consumer_config, producer_config

log = logging.getLogger(__name__)

_REFUSED = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}


@dataclass(frozen=True)
class TopicLimits:
    """`max.message.bytes` of the input and the DLQ topic (None: not readable, e.g. no ACL)."""

    input_max_bytes: int | None = None
    dlq_max_bytes: int | None = None


def check_client_properties(settings: Settings) -> None:
    """ConfigError naming the property when librdkafka refuses the clients' configuration
    (`kafka.properties` is merged into every client's, so this is where a typo shows)."""
    transactional_id = (
        settings.processing.transactional_id
        if settings.processing.guarantee == "exactly_once"
        else None
    )
    builders = (
        ("consumer", lambda: Consumer(consumer_config(settings, settings.group_id))),
        ("producer", lambda: Producer(producer_config(settings, transactional_id))),
    )
    for kind, build in builders:
        try:
            client = build()
        except KafkaException as exc:
            raise ConfigError(
                f"Kafka {kind} configuration refused: {exc.args[0].str()} (check kafka.properties)"
            ) from None
        except (TypeError, ValueError) as exc:  # e.g. a list where librdkafka wants a string
            raise ConfigError(
                f"Kafka {kind} configuration refused: {exc} (check kafka.properties)"
            ) from None
        client.close()  # never subscribed nor produced: nothing to wait for


def check_cluster(settings: Settings, topics: Iterable[str], timeout: float = 15.0) -> TopicLimits:
    """Raise KafkaSetupError unless the brokers answer, accept our credentials and TLS, and
    every topic exists; then the topics' size limits."""
    errors: list[KafkaError] = []
    admin = AdminClient(common_config(settings, errors))
    servers = settings.kafka.bootstrap_servers
    deadline = time.monotonic() + timeout
    with _librdkafka_lines() as lines:
        while True:
            try:
                wait = min(1.0, max(0.1, deadline - time.monotonic()))
                metadata = admin.list_topics(timeout=wait)
                break
            except KafkaException:
                admin.poll(0)  # serves error_cb: what the connection attempts ran into
                refusal = _refusal(settings, errors, lines)
                if refusal:
                    raise KafkaSetupError(refusal) from None
                if time.monotonic() >= deadline:
                    last = errors[-1].str() if errors else "no answer"
                    raise KafkaSetupError(
                        f"cannot reach Kafka at {servers} within {timeout:.0f}s ({last}); check "
                        "kafka.bootstrap_servers, the network and kafka.security_protocol"
                    ) from None
    missing = sorted(set(topics) - set(metadata.topics))
    if missing:
        raise KafkaSetupError(
            f"topic(s) {', '.join(missing)} do not exist on {servers}; create them or fix "
            "the topics.* settings"
        )
    limits = _topic_limits(admin, settings)
    _warn_if_dlq_is_smaller(settings, limits)
    return limits


def _refusal(settings: Settings, errors: list[KafkaError], lines: list[str]) -> str | None:
    """One line for an error that retrying will not cure: refused credentials, a failed TLS
    handshake, a client speaking PLAINTEXT to a TLS (or SASL) listener."""
    kafka = settings.kafka
    servers = kafka.bootstrap_servers
    for error in reversed(errors):
        text = error.str()
        if error.code() in _REFUSED:
            user = f"user {kafka.sasl_username!r}, " if kafka.sasl_username else ""
            return (
                f"Kafka at {servers} refused the credentials ({user}mechanism "
                f"{kafka.sasl_mechanism}): {text}; check kafka.sasl_username/sasl_password"
            )
        if error.code() == KafkaError._SSL:
            return (
                f"TLS handshake with Kafka at {servers} failed: {text}; check "
                "kafka.ssl_ca_location (the CA that signed the brokers' certificates) and "
                "the client certificate, if any"
            )
        if "security.protocol" in text:  # librdkafka's hint, when it gives one
            return _mismatch(settings, text)
    dropped = [line for line in lines if "closed by peer" in line and "APIVERSION_QUERY" in line]
    if len(dropped) >= 3:  # what a TLS or SASL listener does to a PLAINTEXT client
        return _mismatch(settings, dropped[-1])
    return None


def _mismatch(settings: Settings, text: str) -> str:
    return (
        f"Kafka at {settings.kafka.bootstrap_servers} dropped the connection during the "
        f"handshake: kafka.security_protocol {settings.kafka.security_protocol} does not match "
        f"the listener (a TLS or SASL port?): {text}"
    )


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _librdkafka_lines() -> Iterator[list[str]]:
    """librdkafka's log lines while the body runs (they still go to the log as well): some
    failures - a connection dropped during the handshake - reach no error callback."""
    lines: list[str] = []
    handler = _Lines(lines)
    logger = logging.getLogger("librdkafka")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def _topic_limits(admin: AdminClient, settings: Settings) -> TopicLimits:
    topics = settings.topics
    try:
        resources = [ConfigResource(ResourceType.TOPIC, t) for t in (topics.input, topics.dlq)]
        futures = admin.describe_configs(resources, request_timeout=10)
        sizes = {}
        for resource, future in futures.items():
            entry = future.result(timeout=15).get("max.message.bytes")
            sizes[resource.name] = int(entry.value) if entry is not None else None
    except (KafkaException, ValueError, TypeError) as exc:  # e.g. no DescribeConfigs ACL
        log.warning("topic size limits not readable", extra={"error": str(exc)})
        return TopicLimits()
    return TopicLimits(sizes.get(topics.input), sizes.get(topics.dlq))


def _warn_if_dlq_is_smaller(settings: Settings, limits: TopicLimits) -> None:
    if limits.input_max_bytes is None or limits.dlq_max_bytes is None:
        return
    if limits.dlq_max_bytes < limits.input_max_bytes:
        log.warning(
            "the DLQ topic cannot hold every record the input topic accepts: an oversized "
            "record larger than the DLQ's limit goes there without its value",
            extra={
                "input_topic": settings.topics.input,
                "input_max_message_bytes": limits.input_max_bytes,
                "dlq_topic": settings.topics.dlq,
                "dlq_max_message_bytes": limits.dlq_max_bytes,
            },
        )
