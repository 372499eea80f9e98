"""librdkafka client configuration from settings, and the start-up check of the cluster.

The check turns librdkafka's endless retries into one clear line: unreachable brokers, refused
credentials and missing topics stop start-up instead of leaving a silent, idle consumer.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from consumer import __version__
from consumer.errors import KafkaSetupError
from consumer.settings import Settings

Config = dict[str, Any]


def common_config(settings: Settings, errors: list[KafkaError] | None = None) -> Config:
    """Connection and security properties shared by every client."""
    kafka = settings.kafka
    config: Config = {
        # librdkafka's own log lines go through Python logging (JSON, filterable by level).
        "logger": logging.getLogger("librdkafka"),
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
        "client.id": f"infusion-validator-{__version__}-{socket.gethostname()}",
    }
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username:
        config["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password:
        config["sasl.password"] = kafka.sasl_password.get_secret_value()
    for key, value in (
        ("ssl.ca.location", kafka.ssl_ca_location),
        ("ssl.certificate.location", kafka.ssl_certificate_location),
        ("ssl.key.location", kafka.ssl_key_location),
    ):
        if value:
            config[key] = str(value)
    if kafka.ssl_key_password:
        config["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
    if errors is not None:
        config["error_cb"] = errors.append
    return config


def consumer_config(settings: Settings, group_id: str, **callbacks: Any) -> Config:
    config = common_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Decisions of aborted transactions upstream must never be decided.
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # Bound the prefetch so memory stays flat under a backlog (SPEC §9: RSS ≤ 300 MB).
        "queued.max.messages.kbytes": 32768,
        "fetch.min.bytes": 65536,
        "fetch.wait.max.ms": 50,
    }
    return config | callbacks | settings.kafka.properties


def producer_config(settings: Settings, transactional_id: str | None, **callbacks: Any) -> Config:
    config = common_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # Any record the service accepts (up to processing.max_value_bytes) must fit again as
        # a dead letter or inside its decision; librdkafka's default, 1,000,000, is below the
        # default max_value_bytes (1 MiB). Batches stay capped by batch.size.
        "message.max.bytes": settings.processing.max_value_bytes + 65_536,
    }
    if transactional_id:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = settings.processing.transaction_timeout_ms
    return config | callbacks | settings.kafka.properties


def _describe(errors: list[KafkaError]) -> str:
    for error in reversed(errors):
        if error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            return f"credentials refused: {error.str()}"
    return errors[-1].str() if errors else "no answer"


def check_cluster(settings: Settings, topics: Iterable[str], timeout: float = 15.0) -> None:
    """Raise KafkaSetupError unless the brokers answer and every topic exists."""
    errors: list[KafkaError] = []
    admin = AdminClient(common_config(settings, errors))
    servers = settings.kafka.bootstrap_servers
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise KafkaSetupError(
            f"cannot reach Kafka at {servers} within {timeout:.0f}s ({_describe(errors)}); check "
            "kafka.bootstrap_servers, the network and kafka.security_protocol/credentials"
        ) from exc
    missing = sorted(set(topics) - set(metadata.topics))
    if missing:
        raise KafkaSetupError(
            f"topic(s) {', '.join(missing)} do not exist on {servers}; create them or fix "
            "the topics.* settings"
        )
