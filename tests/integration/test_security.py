"""SASL_SSL for real (SPEC §4, §10): the local broker's SASL_SSL listener (SCRAM-SHA-512 users
created when its storage was formatted, a CA and a broker certificate made by the project).

The service connects with the right credentials and CA and decides claims; a wrong password,
a CA that did not sign the broker's certificate and a PLAINTEXT client on the TLS port each stop
start-up with one line that says which; no secret appears in any log line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from consumer.demo.samples import generate_claims
from consumer.local.kafka import LocalKafka
from consumer.local.tls import LocalTls
from tests.integration.conftest import SCRAM_USER
from tests.integration.streaming import (
    GroupWatcher,
    Topics,
    Validator,
    assert_exactly_once,
    produce_claims,
    read_all,
    wait_for,
)

ERROR_PREFIX = "infusion-validator: error: "


@pytest.fixture
def secure_topics(secure_kafka: LocalKafka) -> Iterator[Topics]:
    """Fresh topics on the secure broker (made through its PLAINTEXT listener)."""
    admin = AdminClient({"bootstrap.servers": secure_kafka.bootstrap_servers})
    tag = uuid.uuid4().hex[:8]
    topics = Topics(*(f"it-sec-{kind}-{tag}" for kind in ("in", "acc", "pend", "dlq")))
    names = [topics.input, *topics.outputs]
    new = [NewTopic(t, 1 if t == topics.dlq else 2) for t in names]
    for future in admin.create_topics(new).values():
        future.result(30)

    def ready() -> bool:
        with suppress(KafkaException):
            metadata = admin.list_topics(timeout=5).topics
            return all(t in metadata and not metadata[t].error for t in names)
        return False

    wait_for(ready, "the secure topics", 30)
    yield topics
    for future in admin.delete_topics(names).values():
        with suppress(KafkaException):
            future.result(30)


def _secure_env(kafka: LocalKafka, password: str, ca: Path | None = None) -> dict[str, str]:
    return {
        "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": kafka.sasl_ssl_bootstrap_servers,
        "INFUSION_VALIDATOR_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "INFUSION_VALIDATOR_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "INFUSION_VALIDATOR_KAFKA__SASL_USERNAME": SCRAM_USER,
        "INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD": password,
        "INFUSION_VALIDATOR_KAFKA__SSL_CA_LOCATION": str(ca or kafka.tls.ca_path),
    }


def _validator(
    kafka: LocalKafka, topics: Topics, tmp_path: Path, name: str, env: dict[str, str]
) -> Validator:
    log_dir = tmp_path / "validator-logs"
    log_dir.mkdir(exist_ok=True)
    return Validator(
        name, kafka.bootstrap_servers, topics, f"it-sec-{uuid.uuid4().hex[:8]}", log_dir, env=env
    )


def test_the_service_connects_over_sasl_ssl_and_decides_claims(
    secure_kafka: LocalKafka, secure_topics: Topics, tmp_path: Path, scram_password: str
) -> None:
    env = _secure_env(secure_kafka, scram_password)
    validator = _validator(secure_kafka, secure_topics, tmp_path, "sasl-ssl", env)
    claims = list(generate_claims(300, seed=71))
    group_id = validator.env["INFUSION_VALIDATOR_GROUP_ID"]
    group = GroupWatcher(secure_kafka.bootstrap_servers, group_id, secure_topics.input)
    try:
        validator.start().wait_assigned()
        produce_claims(secure_kafka.bootstrap_servers, secure_topics, claims)
        group.wait_caught_up(60, lambda: f"\n{validator.tail()}")
        code, _ = validator.terminate()
    finally:
        group.close()
        validator.close()
    assert code == 0, validator.tail()
    decisions = read_all(secure_kafka.bootstrap_servers, secure_topics.decisions)
    assert_exactly_once(decisions, {c["event_id"] for c in claims})
    output = validator.output()
    assert scram_password not in output
    started = validator.events("starting")[0]
    assert started["settings"]["kafka"]["sasl_password"] == "**********"
    assert started["settings"]["kafka"]["security_protocol"] == "SASL_SSL"


def test_a_refused_password_an_unknown_ca_and_plaintext_on_tls_each_stop_start_up(
    secure_kafka: LocalKafka, secure_topics: Topics, tmp_path: Path, scram_password: str
) -> None:
    stranger = LocalTls.ensure(tmp_path / "another-ca")  # signed nothing the broker has
    wrong_password = f"not-{scram_password}"
    plaintext = {
        "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": secure_kafka.sasl_ssl_bootstrap_servers
    }
    cases: dict[str, tuple[Validator, list[str]]] = {
        "wrong password": (
            _validator(
                secure_kafka, secure_topics, tmp_path, "wrong-password",
                _secure_env(secure_kafka, wrong_password),
            ),
            ["refused the credentials", f"user '{SCRAM_USER}'", "SCRAM-SHA-512"],
        ),
        "unknown CA": (
            _validator(
                secure_kafka, secure_topics, tmp_path, "unknown-ca",
                _secure_env(secure_kafka, scram_password, stranger.ca_path),
            ),
            ["TLS handshake", "failed", "certificate verify failed", "kafka.ssl_ca_location"],
        ),
        "PLAINTEXT on the TLS port": (
            _validator(secure_kafka, secure_topics, tmp_path, "plaintext", plaintext),
            ["security_protocol PLAINTEXT does not match the listener"],
        ),
    }  # fmt: skip
    for validator, _ in cases.values():
        validator.start()
    try:
        for case, (validator, expected) in cases.items():
            code = validator.wait_exit(45)
            output = validator.output()
            plain = [line for line in output.splitlines() if not line.startswith("{")]
            assert code != 0, f"{case}: exit {code}\n{validator.tail()}"
            assert len(plain) == 1, f"{case}: {plain}"
            assert plain[0].startswith(ERROR_PREFIX), f"{case}: {plain}"
            for text in expected:
                assert text in plain[0], f"{case}: {text!r} not in {plain[0]!r}"
            assert "Traceback" not in output, case
            for secret in (scram_password, wrong_password):
                assert secret not in output, f"{case}: a password is in the log"
    finally:
        for validator, _ in cases.values():
            validator.close()


def test_the_secure_listener_answers_with_the_ca_and_the_password(
    secure_kafka: LocalKafka, scram_password: str
) -> None:
    """The fixture's own check: the SASL_SSL port answers a client with the CA and password."""
    errors: list[object] = []
    admin = AdminClient(
        {
            "bootstrap.servers": secure_kafka.sasl_ssl_bootstrap_servers,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": SCRAM_USER,
            "sasl.password": scram_password,
            "ssl.ca.location": str(secure_kafka.tls.ca_path),
            "error_cb": errors.append,
        }
    )
    assert admin.list_topics(timeout=20).brokers
