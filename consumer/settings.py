"""Service settings: environment variables and an optional YAML file, validated by pydantic.

Precedence: explicit arguments > environment (`INFUSION_VALIDATOR_…`, nested with `__`, e.g.
`INFUSION_VALIDATOR_TOPICS__INPUT`) > the YAML file (`--config` or `INFUSION_VALIDATOR_CONFIG`)
> defaults. Secrets are `SecretStr`: printed masked, never logged. Any librdkafka property
passes through `kafka.properties` (YAML mapping, or JSON in `INFUSION_VALIDATOR_KAFKA__PROPERTIES`).
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from consumer.errors import ConfigError

ENV_PREFIX = "INFUSION_VALIDATOR_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Group):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    # Any other librdkafka property, applied to every client last (so it can override ours).
    properties: dict[str, str | int | float | bool] = {}


class TopicSettings(_Group):
    input: str = "claims.submitted"
    accepted: str = "claims.accepted"
    pended: str = "claims.pended"
    dlq: str = "claims.dlq"


class SchemaRegistrySettings(_Group):
    url: str | None = None
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    ssl_ca_location: Path | None = None


class ProcessingSettings(_Group):
    guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    # One transaction per batch: bounded in count and time so a transaction stays far below
    # transaction.timeout.ms and max.poll.interval.ms.
    batch_size: int = Field(default=2000, ge=1, le=100_000)
    # Under light load a batch is whatever arrived within this time: it bounds the decision
    # latency (SPEC §9: p99 <= 50 ms at half load); at full load batches fill before it.
    batch_timeout_ms: int = Field(default=10, ge=1, le=60_000)
    # Under exactly-once, after a full batch (records waiting), decide the next batch while
    # the last one's transaction commits (docs/decisions/0004): 1.17x and 1.22x the serial
    # loop's throughput (bench runs 20261207T044123Z, T073801Z) at the same CPU per claim
    # within 2 %. After a short batch the loop commits first: deciding ahead there made the
    # claims' p99 at 10,000/s 192-211 ms against 36-49 (ADR 0004). false: always serial.
    decide_ahead: bool = True
    # Under exactly-once the engine keeps a batch's decisions and changelog records and
    # produces them itself, on the producer's librdkafka handle and without the GIL
    # (docs/decisions/0006): 1.31x and 1.38x the claims a second of Producer.produce in two
    # bench runs, 1.31x the claims per CPU-second. false: Producer.produce only.
    native_produce: bool = True
    # After a crash, read_committed readers of the outputs wait for the dead instance's open
    # transaction until it times out (unless a restarted instance fences it first): a short
    # timeout keeps that stall short, but every batch - processing, produce and commit - must
    # finish within it or be aborted. 10 s, as Kafka Streams uses under exactly-once; a batch
    # takes well under a second here.
    transaction_timeout_ms: int = Field(default=10_000, ge=1000)
    # Stable per instance, so a restarted instance fences and aborts its predecessor's open
    # transaction at once instead of leaving read_committed readers waiting for the timeout.
    transactional_id: str = Field(
        default_factory=lambda: f"infusion-validator-{socket.gethostname()}"
    )
    max_value_bytes: int = Field(default=1_048_576, ge=1024)
    max_lines: int = Field(default=50, ge=1)
    # Stop (without committing) when more than this share of the last `dlq_window` records
    # went to the DLQ: after a bad deploy, better to stop than to drain the topic into the DLQ.
    dlq_max_ratio: float = Field(default=0.5, gt=0, le=1)
    dlq_window: int = Field(default=1000, ge=10)


class HistorySettings(_Group):
    """The member's claim history (SPEC §3.1): re-sent events, duplicate claims, overlapping
    per diems, initial visits."""

    enabled: bool = True
    # A claim is forgotten once its last date of service is this much older than the newest
    # date of service the partition has seen.
    retention_days: int = Field(default=400, ge=1, le=3650)
    # The compacted changelog the history is restored from (default: `<group_id>-history`).
    changelog_topic: str | None = None


class ShadowSettings(_Group):
    """A candidate rule set deciding the live claims beside the live one, writing nothing that
    adjudication reads (SPEC §4 `run --shadow-rule-set`)."""

    # A rule-set file or folder, or a version among the rule sets of `rules`; None: no shadow.
    rule_set: str | None = None
    # Where each disagreement is written (a JSON record); None: counted in metrics only.
    topic: str | None = None


class HttpSettings(_Group):
    host: str = "0.0.0.0"  # noqa: S104 (in a pod, probes and scrapes come from outside)
    port: int = Field(default=8080, ge=0, le=65535)


class Settings(BaseSettings):
    """Everything `run`, `replay` and `demo` need. Frozen: read once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="INFUSION_VALIDATOR_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    processing: ProcessingSettings = ProcessingSettings()
    history: HistorySettings = HistorySettings()
    shadow: ShadowSettings = ShadowSettings()
    http: HttpSettings = HttpSettings()
    group_id: str = "infusion-validator"
    # Static group membership (group.instance.id, KIP-345): an instance that comes back with
    # the same id within session.timeout.ms gets its partitions back without a rebalance. One
    # per instance (the chart uses the pod name); unset: dynamic membership.
    group_instance_id: str | None = None
    wire_format: Literal["raw", "confluent"] | None = Field(
        default=None, description="default: confluent when a registry URL is set, else raw"
    )
    output_wire_format: Literal["raw", "confluent"] | None = None
    writer_schema: Path | None = None
    rules: Path | None = None  # rule-set file or folder; default: the rules/ of the checkout
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config))
        return tuple(sources)

    @property
    def changelog_topic(self) -> str:
        return self.history.changelog_topic or f"{self.group_id}-history"

    @property
    def input_wire_format(self) -> str:
        return self.wire_format or ("confluent" if self.schema_registry.url else "raw")

    @property
    def decision_wire_format(self) -> str:
        return self.output_wire_format or self.input_wire_format

    def masked(self) -> dict[str, Any]:
        """The settings as a dict for the start-up log; SecretStr values print as '**********'."""
        return self.model_dump(mode="json")


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Validate the settings, or raise ConfigError with one line naming each bad key (never a
    value: it may be a secret)."""
    path = config_file or os.environ.get(CONFIG_ENV)
    if path:
        _check_config_file(path, "--config" if config_file else CONFIG_ENV)
        os.environ[CONFIG_ENV] = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    except SettingsError as exc:  # a nested value from the environment that is not JSON
        raise ConfigError(_describe_env_error(exc)) from exc


def _check_config_file(path: str, source: str) -> None:
    """A config file that is missing, unreadable or not a YAML mapping is an error of its own
    (pydantic-settings would silently take the defaults, or raise a multi-line parser error)."""
    where = f"config file {path} (from {source})"
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed"
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping of settings, not a {type(data).__name__}"
        )


def _describe_env_error(exc: SettingsError) -> str:
    field = re.search(r'field "([^"]+)"', str(exc))
    group = f"{ENV_PREFIX}{field.group(1).upper()}" if field else ENV_PREFIX
    for name, value in os.environ.items():
        if not name.upper().startswith(group) or value.strip()[:1] not in "[{":
            continue
        try:
            json.loads(value)
        except ValueError as bad:
            return f"environment variable {name}: not valid JSON ({bad}); give a JSON object"
    return f"settings from the environment ({group}...): {exc}"
