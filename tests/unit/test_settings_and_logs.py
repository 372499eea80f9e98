"""Settings (env + YAML, masked secrets, one-line errors) and the JSON log format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from consumer.errors import ConfigError
from consumer.logs import JsonFormatter
from consumer.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("INFUSION_VALIDATOR_"):
            monkeypatch.delenv(name)


def test_yaml_then_environment_with_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("topics:\n  input: from-yaml\n  dlq: dead\nprocessing:\n  batch_size: 500\n")
    monkeypatch.setenv("INFUSION_VALIDATOR_TOPICS__INPUT", "from-env")
    monkeypatch.setenv("INFUSION_VALIDATOR_KAFKA__PROPERTIES", '{"linger.ms": 50}')
    settings = load_settings(str(config))
    assert (settings.topics.input, settings.topics.dlq) == ("from-env", "dead")
    assert settings.processing.batch_size == 500
    assert settings.kafka.properties == {"linger.ms": 50}
    assert settings.input_wire_format == "raw"


def test_secrets_are_masked_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD", "hunter2")
    settings = load_settings()
    assert "hunter2" not in json.dumps(settings.masked()) + repr(settings) + str(settings)
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "hunter2"


def test_a_registry_url_makes_confluent_the_default_wire_format() -> None:
    settings = load_settings(schema_registry={"url": "http://registry:8081"})
    assert (settings.input_wire_format, settings.decision_wire_format) == ("confluent", "confluent")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INFUSION_VALIDATOR_PROCESSING__GUARANTEE", "maybe_once", "processing.guarantee"),
        ("INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE", "0", "processing.batch_size"),
        ("INFUSION_VALIDATOR_KAFKA__SECURITY_PROTOCOL", "TLS", "kafka.security_protocol"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_or_unknown_yaml_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(str(tmp_path / "absent.yaml"))
    config = tmp_path / "config.yaml"
    config.write_text("topicz:\n  input: x\n")
    with pytest.raises(ConfigError, match="topicz"):
        load_settings(str(config))


def test_log_lines_are_json_with_only_the_extras_passed() -> None:
    record = logging.LogRecord(
        "consumer.x", logging.WARNING, __file__, 1, "record dead-lettered", None, None
    )
    record.partition = 3
    record.offset = 17
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "record dead-lettered"
    assert (line["level"], line["partition"], line["offset"]) == ("warning", 3, 17)
    assert set(line) == {"ts", "level", "logger", "event", "partition", "offset"}
