"""Monitoring artefacts: the alert rules, their promtool tests, the dashboard and the runbook.

The PromQL in `alerts.yaml` and `dashboard.json` may only name series the service really
exports (collected from a fresh registry built like `consumer.stream.service.new_registry`), `up`,
or a recording rule defined in `alerts.yaml`; a renamed metric fails here, not on a pager.
promtool is required: `make setup` installs it (`.ci/tools.sh`), and a missing one fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from consumer.paths import REPO
from consumer.stream.metrics import Metrics

ROOT = REPO
FILES = ROOT / "deploy" / "helm" / "infusion-validator" / "files"
ALERTS = FILES / "alerts.yaml"
ALERT_TESTS = FILES / "alerts_test.yaml"
DASHBOARD = FILES / "dashboard.json"
RUNBOOK = ROOT / "docs" / "runbook.md"
CACHE_BIN = (
    Path(os.environ.get("INFUSION_VALIDATOR_CACHE", Path.home() / ".cache" / "infusion-validator"))
    / "bin"
)

# --- promtool ------------------------------------------------------------------------------


@cache
def _find_promtool() -> str | None:
    on_path = shutil.which("promtool")
    if on_path:
        return on_path
    cached = CACHE_BIN / "promtool"
    return str(cached) if cached.is_file() and os.access(cached, os.X_OK) else None


def promtool(*args: str, cwd: Path = FILES) -> subprocess.CompletedProcess[str]:
    """Run promtool; fail (never skip) when it is not installed."""
    exe = _find_promtool()
    if exe is None:
        pytest.fail(
            f"promtool not found on PATH or in {CACHE_BIN}. Install it with "
            "`make setup` (or `bash .ci/tools.sh ensure_promtool`)."
        )
    return subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    """Grafana variables replaced, each dashboard query must be valid PromQL."""
    substitutions = {
        "$__rate_interval": "5m",
        "$__interval": "1m",
        "$__range": "1h",
        "$job": "infusion-validator",
        "$pod": ".*",
    }
    rules = []
    for i, (where, expr) in enumerate(dashboard_expressions()):
        for var, value in substitutions.items():
            expr = expr.replace(var, value)
        assert not re.search(r"\$(?:\{|[A-Za-z_])", expr), f"{where}: unknown variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- what the service exports --------------------------------------------------------------

# Names a family exports by type; a labelled metric with no child yet (consumer_lag_records,
# records_consumed_total before the first batch) has a fixed name but no sample to collect.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


@cache
def exported_names() -> frozenset[str]:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Metrics(registry, rule_ids=["x"], dlq_error_classes=["y"])
    names = {"up"}  # added by Prometheus to every scrape
    for family in registry.collect():
        if family.samples:
            names.update(sample.name for sample in family.samples)
        else:
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)


def test_exported_names_are_collected_for_real() -> None:
    names = exported_names()
    for expected in (
        "infusion_validator_records_consumed_total",
        "infusion_validator_consumer_lag_records",
        "infusion_validator_end_to_end_latency_seconds_bucket",
        "infusion_validator_build_info",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
    ):
        assert expected in names
    assert "infusion_validator_records_consumed" not in names  # counters end in _total


# --- PromQL metric names -------------------------------------------------------------------

# Word lists read better than 90 quoted strings.
FUNCTIONS = frozenset(
    """
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv exp floor histogram_count histogram_fraction
    histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour
    idelta increase irate label_join label_replace last_over_time ln log10 log2
    mad_over_time max_over_time min_over_time minute month pi predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time
    sum_over_time tan tanh time timestamp vector year
    avg bottomk count count_values group limitk limit_ratio max min quantile stddev stdvar
    sum topk
    """.split()  # noqa: SIM905
)
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "atan2", "inf", "nan", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])[A-Za-z_:][\w:]*")


def metric_names(expr: str) -> set[str]:
    """The metric (and recording-rule) names a PromQL expression selects."""
    text = _STRING.sub('""', expr)  # label values, label_replace arguments
    text = re.sub(r"#[^\n]*", " ", text)  # comments
    text = _GRAFANA_VARIABLE.sub(" ", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges, subqueries
    text = _LABEL_LIST.sub(" ", text)  # grouping/matching label lists (`sum by (le) (` too)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        if word.lower() in KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            if word not in FUNCTIONS:
                raise ValueError(f"unknown PromQL function {word!r} in {expr!r}")
            continue
        names.add(word)
    return names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum by (job) (rate(a_total{job=~"$job", le="0.5"}[$__rate_interval]))',
            {"a_total"},
        ),
        ("histogram_quantile(0.99, sum by (le) (rate(b_bucket[5m])))", {"b_bucket"}),
        ("sum(rate(c_total[5m])) without (instance, pod)", {"c_total"}),
        ("a / on (job, instance) group_left (pod) b > bool 0", {"a", "b"}),
        ("ns_job:rec:rate5m offset 1d > 2 * other:rec", {"ns_job:rec:rate5m", "other:rec"}),
        ('label_replace(up, "pod", "$1", "instance", "(.*):.*")', {"up"}),
        ("time() - last_seen > 1e3 and x unless y", {"last_seen", "x", "y"}),
        ("topk(10, sum by (rule_id) (increase(d_total[$__range])))", {"d_total"}),
        ('absent(up{job=~"(.+-)?iv"} == 1)', {"up"}),
        ("max_over_time(deriv(e[5m])[1h:1m]) > Inf or f == NaN", {"e", "f"}),
        ("vector(1)", set()),
    ],
)
def test_metric_names(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_metric_names_rejects_unknown_functions() -> None:
    with pytest.raises(ValueError, match="rat"):
        metric_names("rat(a_total[5m])")


# --- alerts.yaml ---------------------------------------------------------------------------


@cache
def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(ALERTS.read_text())["groups"]
    return groups


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in all_rules() if "alert" in rule]


def test_alert_expressions_use_exported_metrics() -> None:
    recorded = {rule["record"] for rule in all_rules() if "record" in rule}
    known = exported_names() | recorded
    for rule in all_rules():
        name = rule.get("alert") or rule["record"]
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{name} uses series the service does not export: {sorted(unknown)}"


def test_rule_names_are_unique() -> None:
    names = [rule.get("alert") or rule["record"] for rule in all_rules()]
    assert len(names) == len(set(names))


def test_spec_alerts_are_present() -> None:
    names = {rule["alert"] for rule in alerts()}
    for expected in (
        "InfusionValidatorConsumerLagGrowing",
        "InfusionValidatorConsumptionStalled",
        "InfusionValidatorDLQRatioHigh",
        "InfusionValidatorPendRatioSpike",
        "InfusionValidatorTransactionsAborting",
        "InfusionValidatorProducerFenced",
        "InfusionValidatorRebalanceStorm",
        "InfusionValidatorTargetDown",
    ):
        assert expected in names


def runbook_anchors() -> set[str]:
    """GitHub's heading anchors (lower case, punctuation dropped, spaces to '-'), plus ids."""
    text = RUNBOOK.read_text()
    anchors = set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', text))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_annotations_and_runbook(alert: dict[str, Any]) -> None:
    assert alert.get("labels", {}).get("severity") in {"critical", "warning", "info"}
    annotations = alert.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), f"missing annotation {key}"
    description = annotations["description"]
    for part in ("What it means", "(1)", "(2)", "(3)", "Fix"):
        assert part in description, f"the description lacks the runbook part {part!r}"
    url = annotations["runbook_url"]
    page, _, anchor = url.partition("#")
    assert page.endswith("docs/runbook.md"), url
    assert anchor in runbook_anchors(), f"{url}: no such heading in {RUNBOOK.name}"
    assert anchor == alert["alert"].lower()


def test_every_alert_has_a_firing_case_and_a_near_miss() -> None:
    spec = yaml.safe_load(ALERT_TESTS.read_text())
    assert spec["rule_files"] == [ALERTS.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fires == set(), "alerts with no firing test"
    assert names - quiet == set(), "alerts with no near-miss test"


# --- dashboard.json ------------------------------------------------------------------------


@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))  # collapsed rows nest their panels


def panel_exprs(panel: dict[str, Any]) -> list[str]:
    return [target["expr"] for target in panel.get("targets", []) if target.get("expr")]


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target, annotation and template-variable query."""
    board = dashboard()
    found = [
        (f"panel {panel['id']} {panel['title']!r}", expr)
        for panel in walk_panels(board["panels"])
        for expr in panel_exprs(panel)
    ]
    for annotation in board.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            found.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query.get("query", "") if isinstance(query, dict) else query
        # label_values(<selector>, <label>) and query_result(<expr>) hold PromQL.
        match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query) or re.fullmatch(
            r"\s*query_result\((.*)\)\s*", query
        )
        if match:
            found.append((f"variable ${variable['name']}", match.group(1)))
    return found


def test_dashboard_expressions_use_exported_metrics() -> None:
    exprs = dashboard_expressions()
    assert len(exprs) > 20
    for where, expr in exprs:
        unknown = metric_names(expr) - exported_names()
        assert not unknown, f"{where} uses series the service does not export: {sorted(unknown)}"


def test_dashboard_is_tidy_and_deterministic() -> None:
    text = DASHBOARD.read_text()
    board = dashboard()
    assert text == json.dumps(board, indent=2, ensure_ascii=False) + "\n", "not canonical JSON"
    assert board["schemaVersion"] >= 36
    assert board["uid"] == "infusion-validator"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "pod"} <= variables.keys()

    panels = list(walk_panels(board["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        where = f"panel {panel['id']} {panel['title']!r}"
        pos = panel["gridPos"]
        assert pos["x"] >= 0, where
        assert pos["w"] > 0, where
        assert pos["x"] + pos["w"] <= 24, where
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{where} overlaps another panel"
        taken |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            assert 'job=~"$job"' in target["expr"], f"{where}: query ignores $job"


# Title -> fragments its queries must contain.
SLO_PANELS = {
    "End-to-end latency (p50 / p95 / p99)": [
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        "infusion_validator_end_to_end_latency_seconds_bucket",
    ],
    "Max consumer lag": ["max(infusion_validator_consumer_lag_records"],
    "Input vs output rate": [
        "infusion_validator_records_consumed_total",
        "sum by (decision) (rate(infusion_validator_decisions_total",
    ],
    "Pend ratio": ['decision="PENDED"', "infusion_validator_decisions_total"],
    "DLQ rate": ["rate(infusion_validator_dlq_records_total"],
}


def test_dashboard_slo_row() -> None:
    panels = dashboard()["panels"]
    rows = [i for i, panel in enumerate(panels) if panel["type"] == "row"]
    assert panels[rows[0]]["title"].startswith("Service level"), "the SLO row comes first"
    slo_row = {panel["title"]: panel for panel in panels[rows[0] + 1 : rows[1]]}
    for title, fragments in SLO_PANELS.items():
        assert title in slo_row, f"SLO row lacks {title!r}"
        joined = "\n".join(panel_exprs(slo_row[title]))
        for fragment in fragments:
            assert fragment in joined, f"{title!r} does not query {fragment!r}"


def test_dashboard_other_sections() -> None:
    exprs = "\n".join(expr for _, expr in dashboard_expressions())
    for fragment in (
        "sum by (topic, partition) (infusion_validator_consumer_lag_records",
        "sum by (line_of_business, decision)",
        "topk(10, sum by (rule_id)",
        "sum by (result) (rate(infusion_validator_transactions_total",
        "infusion_validator_rebalances_total",
        "infusion_validator_batch_duration_seconds_bucket",
        "sum by (step, le) (rate(infusion_validator_transaction_step_seconds_bucket",
        "sum by (step) (rate(infusion_validator_loop_step_seconds_sum",
        "infusion_validator_claim_duration_seconds_bucket",
        "infusion_validator_producer_queue_messages",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "infusion_validator_build_info",
    ):
        assert fragment in exprs, f"the dashboard has no panel querying {fragment!r}"
