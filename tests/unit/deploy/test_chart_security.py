"""The chart's ci/sasl-ssl-values.yaml wires what the SASL_SSL integration test uses
(tests/integration/test_security.py): SASL_SSL, SCRAM-SHA-512, the user and password from a
Secret, the CA from a mounted Secret - and the service accepts the result as its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from consumer.settings import CONFIG_ENV, load_settings
from consumer.stream.clients import common_config
from tests.unit.deploy.test_helm_chart import CHART, env_of, render_values, settings_yaml, validator

SASL_SSL = CHART / "ci" / "sasl-ssl-values.yaml"


def test_the_sasl_ssl_values_give_the_service_a_scram_over_tls_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render_values(SASL_SSL)
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(yaml.safe_dump(settings_yaml(docs)))
    env = env_of(validator(docs))
    assert env["INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert env["INFUSION_VALIDATOR_KAFKA__SASL_USERNAME"]["valueFrom"]["secretKeyRef"]
    # What the pod would see, with stand-ins for the Secret's values.
    for name in list(env):
        if name.startswith("INFUSION_VALIDATOR_") and name != "INFUSION_VALIDATOR_CONFIG":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INFUSION_VALIDATOR_KAFKA__SASL_USERNAME", "validator")
    monkeypatch.setenv("INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD", "from-the-secret")
    # Through the environment, as the chart does; monkeypatch puts it back after the test.
    monkeypatch.setenv(CONFIG_ENV, str(settings_file))
    settings = load_settings()
    config = common_config(settings)
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "validator"
    assert config["sasl.password"] == "from-the-secret"
    assert config["ssl.ca.location"] == "/etc/infusion-validator/kafka-tls/ca.crt"
    mounts = {m["mountPath"] for m in validator(docs)["volumeMounts"]}
    assert "/etc/infusion-validator/kafka-tls" in mounts
    assert "from-the-secret" not in str(settings.masked())
