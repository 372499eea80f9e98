"""The benchmark's repeated rows as one table: what each row runs, its label, and the
measurement name `--only`/`--skip` select it by. Every row here runs once per round, in an
order rotated from round to round; the once-only measurements (latency, RSS, history,
profile) are in `bench.cli`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.apps import Workload, run_app, with_settings
from bench.kafkaperf import consumer_perf, producer_perf
from bench.offline import run_diff, run_validate

STATELESS = {"INFUSION_VALIDATOR_HISTORY__ENABLED": "false"}
HEADLINE_LINES = 5  # SPEC §9: the throughput ratios are judged on 5-line claims

REPEATED = (
    "validator", "baseline", "passthrough", "passthrough-changelog", "peer", "validator-alos",
    "validator-2p", "stateless", "shadow", "lines", "kafka-perf", "offline", "diff",
)  # fmt: skip
ONCE = ("latency", "rss", "history", "profile")
ALL = REPEATED + ONCE


@dataclass
class Context:
    """What the rows run against: one workload per line count (5 = the headline input)."""

    workloads: dict[int, Workload]
    out_dir: Path
    mean_value_bytes: int
    shadow_rules: Path  # the candidate rule set for the shadow and --diff rows
    claims_file: Path | None = None  # offline validate's JSON Lines
    variants: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def w(self) -> Workload:
        return self.workloads[HEADLINE_LINES]


@dataclass(frozen=True)
class Row:
    key: str  # the results key
    label: str  # the table's label
    measurement: str  # its name for --only / --skip
    run: Callable[[], dict[str, Any]]
    app: bool = True  # a consumer under test (claims/s, CPU, RSS, outputs checked)


def _app(w: Workload, kind: str, settings: dict[str, str] | None = None, **kw: Any) -> Any:
    workload = with_settings(w, settings) if settings else w
    return lambda: run_app(workload, kind, **kw).as_dict()


def build_rows(ctx: Context, selected: list[str]) -> list[Row]:
    """The rows of the selected measurements, in table order."""
    w = ctx.w
    shadow = {"INFUSION_VALIDATOR_SHADOW__RULE_SET": str(ctx.shadow_rules)}
    rows = [
        Row("validator", "validator, exactly-once (defaults: history on)", "validator",
            _app(w, "validator")),
        *(
            Row(f"validator[{name}]", f"  variant [{name}]", "validator",
                _app(w, "validator", settings))
            for name, settings in ctx.variants.items()
        ),
        Row("baseline", "baseline validator (--baseline-repo)", "baseline", _app(w, "baseline")),
        Row("validator-stateless", "validator, history off", "stateless",
            _app(w, "validator", STATELESS)),
        Row("validator-shadow", "validator + shadow rule set (+J1170 PA)", "shadow",
            _app(w, "validator", shadow)),
        Row("validator-alos", "validator, at-least-once", "validator-alos",
            _app(w, "validator", guarantee="at_least_once")),
        Row("validator-2p", "validator, exactly-once, 2 processes", "validator-2p",
            _app(w, "validator", processes=2)),
        Row("passthrough", "passthrough, exactly-once (Python ceiling)", "passthrough",
            _app(w, "passthrough")),
        # What the history's changelog record costs alone (the stateful target's note).
        Row("passthrough-changelog", "passthrough + a changelog record per claim",
            "passthrough-changelog", _app(w, "passthrough-changelog")),
        Row("peer", "peer: Quix Streams, exactly-once", "peer", _app(w, "peer")),
    ]  # fmt: skip
    for lines, lw in sorted(ctx.workloads.items()):
        if lines != HEADLINE_LINES:
            rows += [
                Row(f"validator.l{lines}", f"validator, {lines}-line claims", "lines",
                    _app(lw, "validator")),
                Row(f"passthrough.l{lines}", f"passthrough, {lines}-line claims", "lines",
                    _app(lw, "passthrough")),
            ]  # fmt: skip

    def perf_consumer() -> dict[str, Any]:
        return consumer_perf(w.bootstrap, w.input_topic, w.total, ctx.out_dir).as_dict()

    def perf_producer() -> dict[str, Any]:
        size = ctx.mean_value_bytes
        return producer_perf(w.cluster, w.total, size, w.partitions, ctx.out_dir).as_dict()

    def offline() -> dict[str, Any]:
        assert ctx.claims_file is not None
        return run_validate(ctx.claims_file)

    def diff() -> dict[str, Any]:
        report = ctx.out_dir / "logs" / "diff-report.json"
        return run_diff(w.bootstrap, w.input_topic, ctx.shadow_rules, report)

    rows += [
        Row("kafka-perf-consumer", "kafka-consumer-perf-test (broker ceiling)", "kafka-perf",
            perf_consumer, app=False),
        Row("kafka-perf-producer", "kafka-producer-perf-test, acks=all", "kafka-perf",
            perf_producer, app=False),
        Row("offline", "offline `validate` (JSON Lines file)", "offline", offline, app=False),
        Row("diff", "`replay --diff` of two rule sets (topic)", "diff", diff, app=False),
    ]  # fmt: skip
    return [row for row in rows if row.measurement in selected]
