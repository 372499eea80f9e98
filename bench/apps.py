"""The consumers under test — validator, passthrough, peer — each run as real processes on
fresh output topics and a fresh consumer group, measured by `bench.measure.watch`."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import probe
from bench.cluster import Cluster, GroupProgress, count_committed
from bench.measure import App, RunResult, Sample, watch
from bench.profiling import Profiler

REPO = Path(__file__).resolve().parents[1]
Command = tuple[list[str], dict[str, str]]


@dataclass
class Workload:
    """The pre-produced input every consumer under test reads."""

    bootstrap: str
    cluster: Cluster
    input_topic: str
    total: int
    partitions: int
    out_dir: Path
    validator_env: dict[str, str] = field(default_factory=dict)  # INFUSION_VALIDATOR_* overrides
    kafka_properties: dict[str, Any] = field(default_factory=dict)  # librdkafka, both apps
    peer_python: Path | None = None
    baseline_repo: Path | None = None  # another checkout whose validator is compared
    resent: int = 0  # re-sent events in the input: no decision for them when history is on
    broker_pid: int | None = None  # the local broker's JVM, for its CPU; None: an external one
    broker_stops: Path | None = None  # the local broker's safepoint log (`bench.stops`)


@dataclass
class AppRun:
    kind: str
    result: RunResult
    outputs: dict[str, int]  # records per output topic (read_committed)
    ok: bool  # exactly one output per input (per new event with history), no dead letter
    log_dir: str
    metrics: dict[str, float] = field(default_factory=dict)  # see bench.probe
    settings: dict[str, str] = field(default_factory=dict)  # the validator's overrides

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "rate": round(r.rate, 1),
            "claims_in_window": r.claims,
            "window_seconds": round(r.seconds, 3),
            "startup_seconds": round(r.startup_seconds, 2),
            "cpu_cores": round(r.cpu_cores, 3),
            "broker_cores": None if r.broker_cores is None else round(r.broker_cores, 3),
            "claims_per_cpu_second": round(r.per_cpu_second, 1),
            "peak_rss_mb": round(r.peak_rss_mb, 1),
            "outputs": self.outputs,
            "ok": self.ok,
            **self._probe(),
            **({"approximate": True} if r.approximate else {}),
        }

    def _probe(self) -> dict[str, Any]:
        if self.kind not in ("validator", "baseline"):
            return {}
        history = self.settings.get("INFUSION_VALIDATOR_HISTORY__ENABLED", "true")
        return {
            # Asked for (by the settings) and seen at work (by the metrics): see bench.probe.
            "history_requested": history.lower() not in ("false", "0", "no"),
            "history_active": probe.history_active(self.metrics),
            "shadow_requested": SHADOW_RULE_SET in self.settings,
            "shadow_active": probe.shadow_active(self.metrics),
            "metrics": self.metrics,
        }


SHADOW_RULE_SET = "INFUSION_VALIDATOR_SHADOW__RULE_SET"


def _validator_cmd(
    w: Workload, topics: dict[str, str], group: str, guarantee: str, i: int, port: int = 0
) -> Command:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_VALIDATOR_")}
    env = {
        **base,
        "INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": w.bootstrap,
        "INFUSION_VALIDATOR_TOPICS__INPUT": w.input_topic,
        "INFUSION_VALIDATOR_TOPICS__ACCEPTED": topics["accepted"],
        "INFUSION_VALIDATOR_TOPICS__PENDED": topics["pended"],
        "INFUSION_VALIDATOR_TOPICS__DLQ": topics["dlq"],
        "INFUSION_VALIDATOR_GROUP_ID": group,
        "INFUSION_VALIDATOR_PROCESSING__GUARANTEE": guarantee,
        "INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID": f"{group}-{i}",
        # Named here so the bench can count and delete it (it is created by the service).
        "INFUSION_VALIDATOR_HISTORY__CHANGELOG_TOPIC": f"{group}-history",
        "INFUSION_VALIDATOR_HTTP__HOST": "127.0.0.1",
        "INFUSION_VALIDATOR_HTTP__PORT": str(port),
        "INFUSION_VALIDATOR_LOG_LEVEL": "WARNING",
        **w.validator_env,
    }
    if "shadow" in topics:
        env["INFUSION_VALIDATOR_SHADOW__TOPIC"] = topics["shadow"]
    if w.kafka_properties:
        env["INFUSION_VALIDATOR_KAFKA__PROPERTIES"] = orjson.dumps(w.kafka_properties).decode()
    return [sys.executable, "-m", "consumer", "run"], env


def _passthrough_cmd(
    w: Workload, topics: dict[str, str], group: str, guarantee: str, i: int, port: int = 0
) -> Command:
    cmd = [
        sys.executable, "-m", "bench.passthrough", "--bootstrap", w.bootstrap,
        "--input", w.input_topic, "--output", topics["out"], "--group", group,
        "--guarantee", guarantee, "--transactional-id", f"{group}-{i}",
    ]  # fmt: skip
    if "changelog" in topics:
        cmd += ["--changelog", topics["changelog"]]
    env = dict(os.environ)
    if w.kafka_properties:
        env["INFUSION_VALIDATOR_KAFKA__PROPERTIES"] = orjson.dumps(w.kafka_properties).decode()
    return cmd, env


def _peer_cmd(
    w: Workload, topics: dict[str, str], group: str, guarantee: str, i: int, port: int = 0
) -> Command:
    assert w.peer_python is not None, "the peer needs its virtual environment"
    state = w.out_dir / "logs" / f"{group}-state"
    cmd = [
        str(w.peer_python), str(REPO / "bench" / "peer_app.py"), "--bootstrap", w.bootstrap,
        "--input", w.input_topic, "--accepted", topics["accepted"], "--pended", topics["pended"],
        "--group", group, "--state-dir", str(state),
        "--guarantee", "exactly-once" if guarantee == "exactly_once" else "at-least-once",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONPATH"] = str(REPO)
    return cmd, env


_KINDS = {
    "validator": (_validator_cmd, ("accepted", "pended", "dlq")),
    "baseline": (_validator_cmd, ("accepted", "pended", "dlq")),
    "passthrough": (_passthrough_cmd, ("out",)),
    "passthrough-changelog": (_passthrough_cmd, ("out", "changelog")),
    "peer": (_peer_cmd, ("accepted", "pended")),
}
# Compacted, like the validator's history changelog that this stands in for.
_CONFIGS = {"changelog": {"cleanup.policy": "compact"}}
# Outputs that are not decisions: counted, but not in "one decision per input".
_NOT_DECISIONS = ("dlq", "shadow", "changelog")


def with_settings(w: Workload, settings: Mapping[str, str]) -> Workload:
    """`w` with more settings for the apps: INFUSION_VALIDATOR_* keys are environment
    variables of the validator, any other key a librdkafka property (validator, passthrough)."""
    env = {k: v for k, v in settings.items() if k.startswith("INFUSION_VALIDATOR_")}
    props: dict[str, Any] = {
        k: int(v) if v.lstrip("-").isdigit() else v for k, v in settings.items() if k not in env
    }
    return Workload(
        **{
            **w.__dict__,
            "validator_env": {**w.validator_env, **env},
            "kafka_properties": {**w.kafka_properties, **props},
        }
    )


def run_app(
    w: Workload,
    kind: str,
    *,
    processes: int = 1,
    guarantee: str = "exactly_once",
    profiler: Profiler | None = None,
) -> AppRun:
    """One measured run of `kind` over the whole input, on its own output topics and group."""
    make_cmd, outputs = _KINDS[kind]
    validator = kind in ("validator", "baseline")
    if validator and w.validator_env.get(SHADOW_RULE_SET):
        outputs = (*outputs, "shadow")  # the disagreements, written in the same transaction
    run_id = f"{kind}-{processes}p-{guarantee}-{uuid.uuid4().hex[:6]}"
    group = f"bench-{run_id}"
    topics = {name: f"bench.{run_id}.{name}" for name in outputs}
    w.cluster.create(
        {t: (1 if name == "dlq" else w.partitions) for name, t in topics.items()},
        {t: _CONFIGS[name] for name, t in topics.items() if name in _CONFIGS},
    )
    log_dir = w.out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    progress = GroupProgress(w.bootstrap, group, w.input_topic)
    apps: list[App] = []
    ports = [probe.free_port() if validator else 0 for _ in range(processes)]
    try:
        for i in range(processes):
            cmd, env = make_cmd(w, topics, group, guarantee, i, ports[i])
            cwd = w.baseline_repo if kind == "baseline" and w.baseline_repo else REPO
            apps.append(App(f"{kind}-{i}", cmd, env, log_dir / f"{run_id}-{i}.log", cwd))

        attached = False

        def on_sample(sample: Sample) -> None:
            nonlocal attached
            if profiler and not attached and sample.committed > 0:
                profiler.attach(apps[0].pid)
                attached = True

        result = watch(
            apps, progress, w.total, cluster=w.cluster, group=group, members=processes,
            on_sample=on_sample, broker_pid=w.broker_pid,
        )  # fmt: skip
        metrics = probe.merged([probe.scrape(port) for port in ports if port])
    finally:
        if profiler:
            profiler.detach()
        for app in apps:
            app.stop()
        progress.close()
    counts = count_committed(w.bootstrap, list(topics.values()))
    by_name = {name: counts[t] for name, t in topics.items()}
    decided = sum(n for name, n in by_name.items() if name not in _NOT_DECISIONS)
    # With history at work a re-sent event gets no second decision (SPEC §3.1).
    expected = w.total - (w.resent if probe.history_active(metrics) else 0)
    ok = decided == expected and by_name.get("dlq", 0) == 0
    # The passthrough's changelog: one record per input too. None is compacted away yet: a
    # run's records stay in the active segment (1 GiB by default), which is never cleaned.
    ok = ok and by_name.get("changelog", w.total) == w.total
    w.cluster.delete([*topics.values(), f"{group}-history"])
    return AppRun(kind, result, by_name, ok, str(log_dir), metrics, dict(w.validator_env))


def env_overrides(pairs: Sequence[str]) -> Mapping[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"{pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def kafka_properties(pairs: list[str]) -> dict[str, Any]:
    """`--kafka-property KEY=VALUE`s as librdkafka properties (numbers as numbers)."""
    out: dict[str, Any] = {}
    for key, value in env_overrides(pairs).items():
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def variants(specs: list[str]) -> dict[str, dict[str, str]]:
    """`--variant NAME:KEY=VALUE[,KEY=VALUE]`s: name -> settings (see `with_settings`)."""
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition(":")
        if not sep or not name:
            raise SystemExit(f"--variant {spec!r}: expected NAME:KEY=VALUE[,KEY=VALUE]")
        out[name] = dict(env_overrides(rest.split(",")))
    return out
