"""librdkafka client configuration from settings (the start-up checks of it and of the
cluster are in `consumer.stream.preflight`)."""

from __future__ import annotations

import logging
import socket
from typing import Any

from confluent_kafka import KafkaError

from consumer import __version__
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


# Per fetch response (librdkafka's default is 50 MiB); see consumer_config.
FETCH_MAX_BYTES = 4 * 1024 * 1024


def consumer_config(settings: Settings, group_id: str, **callbacks: Any) -> Config:
    # librdkafka refuses a fetch.max.bytes below message.max.bytes (shared with the producer
    # when set in kafka.properties).
    largest = int(settings.kafka.properties.get("message.max.bytes", 0))
    config = common_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Decisions of aborted transactions upstream must never be decided.
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # Bound the prefetch so memory stays flat under a backlog (SPEC §9: RSS ≤ 300 MB):
        # 4 MiB queued (was 32 MiB) and 4 MiB per fetch response took the validator's peak RSS
        # from 367 to 272 MB with the same throughput (bench, 150k claims; 4 MiB is > 0.5 s of
        # input at full speed). A record larger than a fetch is still fetched (KIP-74).
        "queued.max.messages.kbytes": 4096,
        "fetch.max.bytes": max(FETCH_MAX_BYTES, largest),
        # With a small queue, librdkafka's default (1000 ms) pause after the queue fills
        # starves a fast consumer: the bench passthrough went from 22,700 to 121,000 claims/s
        # with 10 ms, the validator +10 %.
        "fetch.queue.backoff.ms": 10,
        # A fetch is answered as soon as one record is there: with 65,536 every fetch below
        # about 20k claims/s waited the full fetch.wait.max.ms; 1 halved p50 (passthrough at
        # 2k claims/s 60 -> 21 ms, validator at 10k/s 51 -> 23 ms) at the same throughput.
        "fetch.min.bytes": 1,
        # Under light load a fetch waits up to this long for fetch.min.bytes, and every claim
        # pays it: 50 -> 10 ms took p50 from 79 to 53 ms and p99 from 320 to 122 ms at 3,000
        # claims/s (bench latency run, batch_timeout_ms=10). At full load data is always there.
        "fetch.wait.max.ms": 10,
    }
    if settings.group_instance_id:
        config["group.instance.id"] = settings.group_instance_id
    return config | callbacks | settings.kafka.properties


# librdkafka's ceiling for message.max.bytes.
MESSAGE_MAX_BYTES_LIMIT = 1_000_000_000


def producer_config(
    settings: Settings, transactional_id: str | None, largest_record: int = 0, **callbacks: Any
) -> Config:
    """`largest_record`: the largest value the producer must be able to write (an oversized
    record dead-lettered whole, up to what the DLQ topic takes)."""
    config = common_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        # Measured 5 / 20 / 50 (bench, interleaved and rotated runs): the same throughput
        # (a transaction's commit flushes at once, so batches are per transaction anyway).
        "linger.ms": 5,
        # Decisions carry their claim (SPEC §2.3): 2-3 KB at 50 lines, where lz4 is 13 % of
        # the validator's CPU (perf). Measured against it (bench 20261206T223443Z, 5 lines,
        # 3 rounds): none 0.89x the throughput at 8 % less CPU a claim (2.5x the bytes for
        # the broker to write), zstd 0.92x at 8 % more. lz4 keeps the throughput; set
        # kafka.properties compression.type=none where CPU matters more than bytes.
        "compression.type": "lz4",
        # A transaction that starts while the broker still writes the previous one's commit
        # markers gets CONCURRENT_TRANSACTIONS from AddOffsetsToTxn, retried after this
        # backoff. librdkafka's 100 ms default made 1-12 % of transactions stall 80-140 ms
        # and set the claims' p99; 5 ms growing to 20 ms took the send_offsets calls over
        # 50 ms from 4-22 per run to 0-1 and passthrough's p99 at 10k claims/s from 158-586
        # to 49-50 ms, with the same throughput (../shared/notes/latency-and-the-loop.md).
        "retry.backoff.ms": 5,
        "retry.backoff.max.ms": 20,
        # Any record the service accepts (up to processing.max_value_bytes) must fit again as
        # a dead letter or inside its decision, and so must an oversized record that goes to
        # the DLQ whole; librdkafka's default, 1,000,000, is below the default max_value_bytes
        # (1 MiB). Batches stay capped by batch.size.
        "message.max.bytes": min(
            MESSAGE_MAX_BYTES_LIMIT,
            max(settings.processing.max_value_bytes, largest_record) + 65_536,
        ),
    }
    if transactional_id:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = settings.processing.transaction_timeout_ms
    return config | callbacks | settings.kafka.properties
