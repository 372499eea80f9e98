"""The Helm chart (deploy/helm/infusion-validator), rendered by the real `helm` binary.

`helm lint` and `helm template` for the defaults and every ci/*-values.yaml; the pod security
settings of every container; probes; the rule-set mount and its checksum; monitoring objects
only when enabled; the partition cap on autoscaling; no plain credentials; the settings file
accepted by the service's own Settings model; every manifest valid against the Kubernetes JSON
schemas (offline, PyPI `kubernetes-validate`).

helm comes from PATH or the tools cache (`make setup` runs `.ci/tools.sh ensure_helm`). When it
is missing the tests fail, never skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.paths import REPO
from consumer.settings import Settings, load_settings

ROOT = REPO
CHART = ROOT / "deploy" / "helm" / "infusion-validator"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "rel"
NAMESPACE = "claims"
# Given explicitly: a helm built without the Makefile's ldflags assumes Kubernetes 1.20, below
# the chart's kubeVersion.
RENDER_KUBE_VERSION = "1.31.0"
UID = 10001
# Kubernetes versions the manifests are validated against: Chart.yaml's kubeVersion floor and
# the newest schema set kubernetes-validate ships.
KUBE_VERSIONS = ("1.25", "1.37")
# Custom resources: no JSON schema in kubernetes-validate.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
WORKLOAD_KINDS = {"StatefulSet", "Deployment", "Job", "Pod"}
# Settings keys the chart sets itself (environment or TLS mounts) and therefore keeps out of
# values.schema.json's `config`, next to the secrets that may only come from existing Secrets.
CHART_MANAGED = {
    "rules",
    "processing.transactional_id",
    "group_instance_id",
    "kafka.ssl_ca_location",
    "kafka.ssl_certificate_location",
    "kafka.ssl_key_location",
    "schema_registry.ssl_ca_location",
}
SECRET_SETTINGS = {
    "kafka.sasl_password",
    "kafka.ssl_key_password",
    "schema_registry.basic_auth_password",
}

VALUES_CASES = [pytest.param(None, id="chart-defaults")] + [
    pytest.param(path, id=path.stem) for path in CI_VALUES
]


# --------------------------------------------------------------------------------------------
# helm
# --------------------------------------------------------------------------------------------


def _find_helm() -> str:
    found = shutil.which("helm")
    if found:
        return found
    cache = Path(
        os.environ.get("INFUSION_VALIDATOR_CACHE") or Path.home() / ".cache" / "infusion-validator"
    )
    candidate = cache / "bin" / "helm"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    pytest.fail(
        "helm not found on PATH nor at "
        f"{candidate}: run `make setup` (or `bash .ci/tools.sh ensure_helm`)",
        pytrace=False,
    )


@functools.cache
def _helm() -> str:
    return _find_helm()


def _run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_helm(), *args], capture_output=True, text=True, timeout=120, check=False
    )


_COMMON = ("--namespace", NAMESPACE, "--kube-version", RENDER_KUBE_VERSION)


@functools.cache
def _template_text(*args: str) -> str:
    proc = _run_helm("template", RELEASE, str(CHART), *_COMMON, *args)
    if proc.returncode != 0:
        pytest.fail(f"helm template {' '.join(args)} failed:\n{proc.stderr}", pytrace=False)
    return proc.stdout


def render(*args: str) -> list[dict[str, Any]]:
    """The manifests of `helm template` with these extra arguments (cached per arguments)."""
    return [doc for doc in yaml.safe_load_all(_template_text(*args)) if doc]


def render_values(values: Path | None, *args: str) -> list[dict[str, Any]]:
    return render(*(["-f", str(values)] if values else []), *args)


def render_error(*args: str) -> str:
    """The error of a `helm template` that must fail."""
    proc = _run_helm("template", RELEASE, str(CHART), *_COMMON, *args)
    assert proc.returncode != 0, f"helm template {' '.join(args)} rendered, expected a failure"
    return proc.stderr


def render_with_values(tmp_path: Path, values: dict[str, Any], *args: str) -> list[dict[str, Any]]:
    path = tmp_path / f"values-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(values))
    return render("-f", str(path), *args)


# --------------------------------------------------------------------------------------------
# manifest helpers
# --------------------------------------------------------------------------------------------


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [d for d in objects(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload and bare pod."""
    for doc in docs:
        if doc["kind"] == "Pod":
            yield doc["metadata"]["name"], doc["spec"]
        elif doc["kind"] in WORKLOAD_KINDS:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The StatefulSet's pod spec."""
    spec: dict[str, Any] = one(docs, "StatefulSet")["spec"]["template"]["spec"]
    return spec


def validator(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The service container of the StatefulSet."""
    spec = pod_spec(docs)
    (container,) = [c for c in spec["containers"] if c["name"] == "validator"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def settings_yaml(docs: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        one(docs, "ConfigMap", "-config")["data"]["settings.yaml"]
    )
    return data


def checksum(docs: list[dict[str, Any]]) -> str:
    annotations = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    value: str = annotations["checksum/config"]
    return value


def repo_rules() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "rules").glob("*.yaml"))}


# --------------------------------------------------------------------------------------------
# the chart's files
# --------------------------------------------------------------------------------------------


def test_chart_rule_files_equal_the_repository_rules() -> None:
    chart_rules = {
        p.name: p.read_text() for p in sorted((CHART / "files" / "rules").glob("*.yaml"))
    }
    assert chart_rules == repo_rules(), (
        "deploy/helm/infusion-validator/files/rules/ drifted from rules/: "
        "cp rules/*.yaml deploy/helm/infusion-validator/files/rules/"
    )


def test_ci_values_cover_each_feature() -> None:
    names = {p.name for p in CI_VALUES}
    for required in (
        "defaults-values.yaml",
        "sasl-ssl-values.yaml",
        "monitoring-values.yaml",
        "autoscaling-values.yaml",
        "replay-values.yaml",
    ):
        assert required in names


def test_values_schema_config_matches_the_settings_model() -> None:
    """values.schema.json's `config` allows exactly the Settings fields the chart does not set."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    config = schema["properties"]["config"]
    assert config["additionalProperties"] is False

    def schema_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        keys = set()
        for name, sub in node["properties"].items():
            if sub.get("type") == "object" and "properties" in sub:
                assert sub["additionalProperties"] is False, f"config.{prefix}{name}"
                keys |= schema_keys(sub, f"{prefix}{name}.")
            else:
                keys.add(prefix + name)
        return keys

    def model_keys(model: type[Any], prefix: str = "") -> set[str]:
        keys = set()
        for name, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                keys |= model_keys(sub, f"{prefix}{name}.")
            else:
                keys.add(prefix + name)
        return keys

    assert schema_keys(config) == model_keys(Settings) - CHART_MANAGED - SECRET_SETTINGS


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()

    def leaves(node: Any, prefix: str = "") -> Iterator[str]:
        if (
            isinstance(node, dict)
            and node
            and not prefix.endswith(
                (
                    "Labels.",
                    "labels.",
                    "Annotations.",
                    "annotations.",
                    "resources.",
                    "SecurityContext.",
                    "securityContext.",
                    "behavior.",
                    "updateStrategy.",
                    "properties.",
                )
            )
        ):
            for key, value in node.items():
                yield from leaves(value, f"{prefix}{key}.")
        else:
            yield prefix.rstrip(".")

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [key for key in leaves(values) if f"`{key}`" not in readme]
    assert not missing, f"README.md values table lacks: {missing}"


def test_dockerfile_matches_the_chart() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == UID
    assert values["securityContext"]["runAsUser"] == UID
    assert re.search(rf"^USER {UID}:{UID}$", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["infusion-validator"\]$', dockerfile, re.M)
    assert re.search(r'^CMD \["run"\]$', dockerfile, re.M)
    assert re.search(rf"^EXPOSE {values['config']['http']['port']}$", dockerfile, re.M)
    assert re.search(r"^\s*INFUSION_VALIDATOR_RULES=/\S+", dockerfile, re.M)
    assert re.search(r"^COPY rules/", dockerfile, re.M)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, re.M)
    # The schemas go where consumer/schemas.py looks for them: schemas/avro/ beside the package.
    assert re.search(
        r"^COPY schemas/avro/ /opt/venv/lib/python3\.11/site-packages/schemas/avro/$",
        dockerfile,
        re.M,
    )


# --------------------------------------------------------------------------------------------
# lint and template
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES_CASES)
def test_helm_lint(values: Path | None) -> None:
    values_args = ["-f", str(values)] if values else []
    proc = _run_helm(
        "lint", "--strict", "--kube-version", RENDER_KUBE_VERSION, str(CHART), *values_args
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values", VALUES_CASES)
def test_helm_template_renders_the_core_objects(values: Path | None) -> None:
    docs = render_values(values)
    kinds = {doc["kind"] for doc in docs}
    assert {"StatefulSet", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert "Deployment" not in kinds
    for doc in docs:
        assert doc["metadata"]["namespace"] == NAMESPACE
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUES_CASES)
def test_manifests_validate_against_kubernetes_schemas(values: Path | None, version: str) -> None:
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail(
            "kubernetes-validate is not installed: pip install kubernetes-validate "
            "(it belongs in the `test` extra of pyproject.toml)",
            pytrace=False,
        )
    checked = 0
    for doc in render_values(values):
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.absolute_path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} (k8s {version}) at {where}: "
                f"{exc.message}",
                pytrace=False,
            )
        checked += 1
    assert checked >= 6


# --------------------------------------------------------------------------------------------
# security
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES_CASES)
def test_every_container_runs_locked_down(values: Path | None) -> None:
    docs = render_values(values)
    seen = set()
    for name, spec in pod_specs(docs):
        assert spec["automountServiceAccountToken"] is False, name
        pod_ctx = spec.get("securityContext", {})
        for container in containers(spec):
            where = f"{name}/{container['name']}"
            seen.add(where)
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, where
            assert ctx.get("runAsUser", pod_ctx.get("runAsUser")) == UID, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert not ctx["capabilities"].get("add"), where
            assert ctx.get("privileged", False) is False, where
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile"))
            assert seccomp == {"type": "RuntimeDefault"}, where
            assert container["resources"]["requests"], where
            assert container["resources"]["limits"], where
    assert f"{RELEASE}-infusion-validator/validator" in seen
    assert f"{RELEASE}-infusion-validator-test-metrics/metrics" in seen
    if values and values.stem.startswith("replay"):
        assert any("-replay-" in where for where in seen)


@pytest.mark.parametrize("values", VALUES_CASES)
def test_service_pods_have_a_writable_tmp_only(values: Path | None) -> None:
    for name, spec in pod_specs(render_values(values)):
        if "test-metrics" in name:
            continue
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
            for path, mount in mounts.items():
                if path != "/tmp":
                    assert mount.get("readOnly") is True, f"{name}: {path}"


@pytest.mark.parametrize("values", VALUES_CASES)
def test_no_plain_credentials(values: Path | None) -> None:
    docs = render_values(values)
    assert not objects(docs, "Secret"), (
        "the chart never creates a Secret: credentials are existing Secrets"
    )
    for name, spec in pod_specs(docs):
        for container in containers(spec):
            for item in container.get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN", item["name"], re.I):
                    assert "value" not in item, f"{name}: {item['name']} has a plain value"
                    assert "secretKeyRef" in item["valueFrom"], f"{name}: {item['name']}"
    text = json.dumps(settings_yaml(docs))
    assert "password" not in text.lower()


def test_sasl_ssl_credentials_come_from_the_existing_secrets() -> None:
    docs = render_values(CHART / "ci" / "sasl-ssl-values.yaml")
    env = env_of(validator(docs))
    ref = env["INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "infusion-validator-kafka-user", "key": "password"}
    ref = env["INFUSION_VALIDATOR_SCHEMA_REGISTRY__BASIC_AUTH_PASSWORD"]["valueFrom"][
        "secretKeyRef"
    ]
    assert ref == {"name": "infusion-validator-schema-registry", "key": "password"}
    kafka = settings_yaml(docs)["kafka"]
    assert kafka["security_protocol"] == "SASL_SSL"
    assert kafka["sasl_mechanism"] == "SCRAM-SHA-512"
    # The CA file named in the settings is the mounted secret's key.
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in validator(docs)["volumeMounts"]}
    assert volumes["kafka-tls"]["secret"]["secretName"] == "claims-kafka-cluster-ca-cert"
    assert kafka["ssl_ca_location"] == f"{mounts['kafka-tls']}/ca.crt"


@pytest.mark.parametrize(
    "setting",
    [
        "config.kafka.sasl_password=hunter2",
        "config.kafka.ssl_key_password=hunter2",
        "config.schema_registry.basic_auth_password=hunter2",
    ],
)
def test_schema_refuses_plain_passwords(setting: str) -> None:
    error = render_error("--set", setting)
    assert "schema" in error
    assert setting.split("=")[0].rsplit(".", 1)[-1] in error


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            [
                "config.kafka.security_protocol=SASL_SSL",
                "config.kafka.sasl_mechanism=SCRAM-SHA-512",
                "config.kafka.sasl_username=svc",
            ],
            "kafka.sasl.existingSecret is required",
        ),
        (
            ["config.kafka.security_protocol=SASL_SSL", "kafka.sasl.existingSecret=s"],
            "config.kafka.sasl_mechanism is required",
        ),
        (["kafka.sasl.existingSecret=s"], "security_protocol is PLAINTEXT"),
        (["kafka.tls.existingSecret=s"], "security_protocol is PLAINTEXT"),
        (
            [
                "config.kafka.security_protocol=SSL",
                "kafka.tls.existingSecret=s",
                "kafka.tls.certKey=tls.crt",
            ],
            "give both certKey and keyKey",
        ),
    ],
)
def test_inconsistent_kafka_security_fails(settings: list[str], message: str) -> None:
    args = [arg for setting in settings for arg in ("--set", setting)]
    assert message in render_error(*args)


def test_mutual_tls_files_and_key_password() -> None:
    docs = render_values(CHART / "ci" / "mtls-values.yaml")
    kafka = settings_yaml(docs)["kafka"]
    mounts = {m["name"]: m["mountPath"] for m in validator(docs)["volumeMounts"]}
    for setting, key in (
        ("ssl_ca_location", "ca.crt"),
        ("ssl_certificate_location", "tls.crt"),
        ("ssl_key_location", "tls.key"),
    ):
        assert kafka[setting] == f"{mounts['kafka-tls']}/{key}"
    ref = env_of(validator(docs))["INFUSION_VALIDATOR_KAFKA__SSL_KEY_PASSWORD"]["valueFrom"]
    assert ref["secretKeyRef"] == {
        "name": "infusion-validator-kafka-client-tls",
        "key": "key-password",
    }


@pytest.mark.parametrize(
    "setting",
    [
        "config.kafka.bootstrap_server=kafka:9092",
        "replicaCont=2",
        "serviceMonitor.enabeld=true",
        "config.processing.guarantee=exactly-once",
        "config.log_level=TRACE",
        "kafka.inputPartitions=0",
    ],
)
def test_schema_catches_typos_and_bad_values(setting: str) -> None:
    error = render_error("--set", setting)
    assert "schema" in error
    assert setting.split("=")[0].rsplit(".", 1)[-1] in error  # the offending key is named


# --------------------------------------------------------------------------------------------
# the service's settings, probes, rules and transactional id
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUES_CASES)
def test_the_service_accepts_the_rendered_settings(
    values: Path | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load the rendered settings file and env exactly as the pod would, with Settings itself."""
    docs = render_values(values)
    config_map = one(docs, "ConfigMap", "-config")
    container = validator(docs)
    env = env_of(container)
    # INFUSION_VALIDATOR_CONFIG names settings.yaml in the mounted config ConfigMap.
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    config_path = Path(env["INFUSION_VALIDATOR_CONFIG"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(config_path.parent)]
    assert volumes[mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_path.name in config_map["data"]

    settings_file = tmp_path / config_path.name
    settings_file.write_text(config_map["data"][config_path.name])
    for key in list(os.environ):
        if key.startswith("INFUSION_VALIDATOR_"):
            monkeypatch.delenv(key)
    pod_name = f"{RELEASE}-infusion-validator-0"
    for name, item in env.items():
        if not name.startswith("INFUSION_VALIDATOR_"):
            continue
        if "value" in item:
            monkeypatch.setenv(name, item["value"].replace("$(POD_NAME)", pod_name))
        else:  # from a Secret
            monkeypatch.setenv(name, f"from-secret-{name.lower()}")
    monkeypatch.setenv("INFUSION_VALIDATOR_CONFIG", str(settings_file))
    settings = load_settings()
    assert settings.processing.transactional_id == f"{RELEASE}-{pod_name}"
    assert str(settings.rules) == env["INFUSION_VALIDATOR_RULES"]["value"]
    assert settings.http.port == container["ports"][0]["containerPort"]
    if "INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD" in env:
        assert settings.kafka.sasl_password is not None
        assert settings.kafka.sasl_password.get_secret_value().startswith("from-secret-")


@pytest.mark.parametrize("values", VALUES_CASES)
def test_env_variables_name_real_settings(values: Path | None) -> None:
    def known(path: list[str], model: type[Any] = Settings) -> bool:
        field = model.model_fields.get(path[0])
        if field is None:
            return False
        if len(path) == 1:
            return True
        if path[0] == "properties":  # librdkafka pass-through: any key
            return True
        sub = field.annotation
        return isinstance(sub, type) and hasattr(sub, "model_fields") and known(path[1:], sub)

    for name, spec in pod_specs(render_values(values)):
        for container in containers(spec):
            for item in container.get("env", []):
                var = item["name"]
                if not var.startswith("INFUSION_VALIDATOR_") or var == "INFUSION_VALIDATOR_CONFIG":
                    continue
                path = var.removeprefix("INFUSION_VALIDATOR_").lower().split("__")
                assert known(path), f"{name}: {var} is not a setting"


def test_probes_use_the_health_endpoints_on_the_http_port() -> None:
    for args in ((), ("--set", "config.http.port=9090")):
        docs = render(*args)
        container = validator(docs)
        (port,) = container["ports"]
        assert port["name"] == "http"
        assert port["containerPort"] == settings_yaml(docs)["http"]["port"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        service = one(docs, "Service")
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert validator(render("--set", "config.http.port=9090"))["ports"][0]["containerPort"] == 9090


@pytest.mark.parametrize("values", VALUES_CASES)
def test_rules_configmap_is_mounted_where_the_env_points(values: Path | None) -> None:
    docs = render_values(values)
    rules_map = one(docs, "ConfigMap", "-rules")
    assert rules_map["data"] == repo_rules()
    for name, spec in pod_specs(docs):
        if "test-metrics" in name:
            continue
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            rules_path = env_of(container)["INFUSION_VALIDATOR_RULES"]["value"]
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == rules_path]
            assert mount["readOnly"] is True
            assert volumes[mount["name"]]["configMap"]["name"] == rules_map["metadata"]["name"]


def test_rules_can_come_from_an_existing_configmap() -> None:
    docs = render("--set", "rules.existingConfigMap=policy-team-rules")
    assert not [d for d in objects(docs, "ConfigMap") if d["metadata"]["name"].endswith("-rules")]
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    assert volumes["rules"]["configMap"]["name"] == "policy-team-rules"


def test_transactional_id_is_stable_per_pod() -> None:
    docs = render()
    assert (
        one(docs, "StatefulSet")["spec"]["serviceName"] == one(docs, "Service")["metadata"]["name"]
    )
    env = env_of(validator(docs))
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert (
        env["INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID"]["value"] == f"{RELEASE}-$(POD_NAME)"
    )
    # Kubernetes expands $(VAR) only for variables defined earlier in the list.
    names = list(env)
    assert names.index("POD_NAME") < names.index("INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID")
    prefixed = env_of(validator(render("--set", "transactionalIdPrefix=prod-claims")))
    assert prefixed["INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID"]["value"] == (
        "prod-claims-$(POD_NAME)"
    )


def test_static_group_membership_uses_the_pod_name() -> None:
    env = env_of(validator(render()))
    assert env["INFUSION_VALIDATOR_GROUP_INSTANCE_ID"]["value"] == "$(POD_NAME)"
    names = list(env)
    assert names.index("POD_NAME") < names.index("INFUSION_VALIDATOR_GROUP_INSTANCE_ID")
    dynamic = env_of(validator(render("--set", "staticGroupMembership=false")))
    assert "INFUSION_VALIDATOR_GROUP_INSTANCE_ID" not in dynamic


def test_termination_grace_period_covers_the_transaction_timeout() -> None:
    grace = pod_spec(render())["terminationGracePeriodSeconds"]
    assert grace >= 10 + 5  # the default transaction timeout is 10 s
    docs = render("--set", "config.processing.transaction_timeout_ms=120000")
    assert pod_spec(docs)["terminationGracePeriodSeconds"] >= 125
    error = render_error("--set", "terminationGracePeriodSeconds=12")
    assert "terminationGracePeriodSeconds=12 is too short" in error


# --------------------------------------------------------------------------------------------
# checksum
# --------------------------------------------------------------------------------------------


def test_changing_a_rule_file_changes_the_checksum(tmp_path: Path) -> None:
    base = checksum(render())
    original = (ROOT / "rules" / "RB.046.A.yaml").read_text()
    changed = original.replace('home_place_of_service: "12"', 'home_place_of_service: "13"')
    assert changed != original
    changed_file = tmp_path / "RB.046.A.yaml"
    changed_file.write_text(changed)

    by_set_file = render("--set-file", f"rules.files.RB\\.046\\.A\\.yaml={changed_file}")
    assert checksum(by_set_file) != base
    assert one(by_set_file, "ConfigMap", "-rules")["data"]["RB.046.A.yaml"] == changed

    by_values = render_with_values(tmp_path, {"rules": {"files": {"RB.046.A.yaml": changed}}})
    assert checksum(by_values) == checksum(by_set_file)

    # The same content as the shipped file is no change at all.
    same = render_with_values(tmp_path, {"rules": {"files": {"RB.046.A.yaml": original}}})
    assert checksum(same) == base


def test_checksum_follows_settings_not_unrelated_values() -> None:
    base = checksum(render())
    assert checksum(render("--set", "config.log_level=DEBUG")) != base
    assert checksum(render("--set", "config.topics.pended=claims.pended.v2")) != base
    assert checksum(render("--set", "resources.limits.memory=1Gi")) == base
    assert checksum(render("--set", "podAnnotations.team=claims")) == base


def test_rule_files_without_a_rule_set_fail() -> None:
    error = render_error(
        "--set", "rules.includeDefaults=false", "--set", "rules.files.x\\.yaml=a: 1"
    )
    assert "policy_id" in error


# --------------------------------------------------------------------------------------------
# monitoring
# --------------------------------------------------------------------------------------------

MONITORING = {
    "serviceMonitor": ("ServiceMonitor", ""),
    "prometheusRule": ("PrometheusRule", ""),
    "grafanaDashboard": ("ConfigMap", "-dashboard"),
}


def _monitoring_objects(docs: list[dict[str, Any]]) -> set[str]:
    return {
        key
        for key, (kind, suffix) in MONITORING.items()
        if any(d["metadata"]["name"].endswith(suffix) for d in objects(docs, kind))
    }


def test_monitoring_objects_are_off_by_default() -> None:
    assert _monitoring_objects(render()) == set()


@pytest.mark.parametrize("key", sorted(MONITORING))
def test_each_monitoring_object_appears_only_when_enabled(key: str) -> None:
    assert _monitoring_objects(render("--set", f"{key}.enabled=true")) == {key}


def test_monitoring_objects_carry_the_chart_files() -> None:
    docs = render_values(CHART / "ci" / "monitoring-values.yaml")
    alerts = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert one(docs, "PrometheusRule")["spec"]["groups"] == alerts["groups"]
    dashboard = one(docs, "ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = dashboard["data"].values()
    assert json.loads(content) == json.loads((CHART / "files" / "dashboard.json").read_text())
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = one(docs, "Service")
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][key] == value


def test_helm_test_pod_checks_build_info_on_the_metrics_service() -> None:
    docs = render()
    pod = one(docs, "Pod", "-test-metrics")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = " ".join(pod["spec"]["containers"][0]["command"])
    service = one(docs, "Service")
    port = service["spec"]["ports"][0]["port"]
    assert f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port}/metrics" in script
    assert "infusion_validator_build_info" in script


# --------------------------------------------------------------------------------------------
# scaling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ["autoscaling.hpa.enabled=true", "autoscaling.hpa.maxReplicas=7"],
            "autoscaling.hpa.maxReplicas=7 exceeds kafka.inputPartitions=6",
        ),
        (
            ["autoscaling.keda.enabled=true", "autoscaling.keda.maxReplicaCount=7"],
            "autoscaling.keda.maxReplicaCount=7 exceeds kafka.inputPartitions=6",
        ),
        (["replicaCount=7"], "replicaCount=7 exceeds kafka.inputPartitions=6"),
        (
            ["autoscaling.keda.enabled=true", "autoscaling.hpa.enabled=true"],
            "not both",
        ),
    ],
)
def test_scaling_beyond_the_partitions_fails(settings: list[str], message: str) -> None:
    args = [arg for setting in settings for arg in ("--set", setting)]
    assert message in render_error(*args)


def test_autoscalers_stay_within_the_partitions() -> None:
    keda_docs = render_values(CHART / "ci" / "autoscaling-values.yaml")
    scaled = one(keda_docs, "ScaledObject")
    assert scaled["spec"]["maxReplicaCount"] <= 12
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": one(keda_docs, "StatefulSet")["metadata"]["name"],
    }
    (trigger,) = scaled["spec"]["triggers"]
    settings = settings_yaml(keda_docs)
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == settings["group_id"]
    assert trigger["metadata"]["topic"] == settings["topics"]["input"]
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    auth = one(keda_docs, "TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs["password"] == ("infusion-validator-kafka-user", "password")
    assert "replicas" not in one(keda_docs, "StatefulSet")["spec"]

    hpa_docs = render_values(CHART / "ci" / "hpa-values.yaml")
    hpa = one(hpa_docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["maxReplicas"] <= 8
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "replicas" not in one(hpa_docs, "StatefulSet")["spec"]


# --------------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------------


def test_replay_job_is_off_by_default() -> None:
    assert not objects(render(), "Job")


def test_replay_job_takes_its_arguments_from_values() -> None:
    docs = render_values(CHART / "ci" / "replay-values.yaml")
    job = one(docs, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [
        "replay",
        "--from-offset", "1000",
        "--to-offset", "250000",
        "--partition", "3",
        "--output-prefix", "replay.",
        "--group-id", "infusion-validator-replay-2026-06-20",
    ]  # fmt: skip
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "ttlSecondsAfterFinished" not in job["spec"]
    env = env_of(container)
    assert env["INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID"]["value"] == (
        f"{RELEASE}-replay-$(POD_NAME)"
    )
    by_time = one(render_values(CHART / "ci" / "replay-time-values.yaml"), "Job")
    args = by_time["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:5] == [
        "replay",
        "--from-time",
        "2026-06-14T00:00:00Z",
        "--to-time",
        "2026-06-21T00:00:00Z",
    ]


def test_replay_job_name_follows_its_pod_template() -> None:
    """Same pod template, same Job (no second run on upgrade); new arguments, new Job."""
    values = CHART / "ci" / "replay-values.yaml"
    name = one(render_values(values), "Job")["metadata"]["name"]
    assert (
        one(render_values(values, "--set", "config.log_level=DEBUG"), "Job")["metadata"]["name"]
        == name
    )
    moved = render_values(values, "--set", "replay.toOffset=300000")
    assert one(moved, "Job")["metadata"]["name"] != name
    assert len(name) <= 63


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            ["replay.enabled=true", "replay.fromOffset=0", "replay.toOffset=5"],
            "replay.groupId is required",
        ),
        (
            [
                "replay.enabled=true",
                "replay.groupId=infusion-validator",
                "replay.fromOffset=0",
                "replay.toOffset=5",
            ],
            "must differ from config.group_id",
        ),
        (
            [
                "replay.enabled=true",
                "replay.groupId=g",
                "replay.fromOffset=0",
                "replay.toOffset=5",
                "replay.fromTime=2026-01-01T00:00:00Z",
                "replay.toTime=2026-01-02T00:00:00Z",
            ],
            "either fromOffset and toOffset, or fromTime and toTime",
        ),
        (["replay.enabled=true", "replay.groupId=g"], "either fromOffset and toOffset"),
        (
            ["replay.enabled=true", "replay.groupId=g", "replay.fromOffset=9"],
            "both fromOffset and toOffset",
        ),
        (
            ["replay.enabled=true", "replay.groupId=g", "replay.fromOffset=9", "replay.toOffset=5"],
            "is after toOffset",
        ),
    ],
)
def test_replay_job_refuses_unclear_ranges(settings: list[str], message: str) -> None:
    args = [arg for setting in settings for arg in ("--set", setting)]
    assert message in render_error(*args)
