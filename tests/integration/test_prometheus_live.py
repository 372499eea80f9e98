"""A live Prometheus scraping the validator under load (SPEC §6, §8).

The validator runs in this process on the session's broker, fed sample claims and some poison
at a steady rate; Debian's Prometheus 2.42 (from the tool cache) scrapes its /metrics every
second with the chart's `files/alerts.yaml` loaded. Then: every recording rule and alert
evaluates with health "ok" and every recording rule has samples; every Grafana dashboard
query returns data (so does every panel `infusion-validator dashboard` draws); and once the
service stops, the target-down alert goes pending.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from consumer.demo.dashboard import Prometheus, Target, grafana_variables, load_panels, render
from consumer.demo.dashboard import substitute as fill
from consumer.demo.samples import generate_claims
from consumer.engine.engine import DEFAULT_RULES_PATH
from consumer.errors import LocalSetupError
from consumer.local.prometheus import LocalPrometheus
from consumer.settings import Settings
from consumer.stream.producing import produce_claims
from tests.integration.inprocess import InProcessValidator
from tests.integration.streaming import wait_for

ALERTS = Path(__file__).resolve().parents[2] / "deploy/helm/infusion-validator/files/alerts.yaml"
RATE = 150  # claims per second: enough for every rate() to move, light for 2 cores
LOAD_SECONDS = 180  # an upper bound; the load stops when the test is done
CHUNK = 2 * RATE  # claims between two undecodable records: the DLQ panels get data


@pytest.fixture
def validator(
    service_settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[InProcessValidator]:
    """The validator in this process - with a shadow rule set, so the shadow panels have data
    too - and a producer thread feeding it until the test ends."""
    stop = threading.Event()
    shadow = tmp_path / "shadow-rules"
    shutil.copytree(DEFAULT_RULES_PATH, shadow)
    text = (shadow / "RB.046.A.yaml").read_text().replace('-r1"', '-shadow"')
    (shadow / "RB.046.A.yaml").write_text(
        text.replace("extra_prior_authorization: {}", "extra_prior_authorization: { ALL: [J1170] }")
    )
    settings = service_settings.model_copy(
        update={"shadow": service_settings.shadow.model_copy(update={"rule_set": str(shadow)})}
    )

    def load() -> None:
        poison = Producer({"bootstrap.servers": kafka_bootstrap})
        deadline = time.monotonic() + LOAD_SECONDS
        seed = 0
        while not stop.is_set() and time.monotonic() < deadline:
            seed += 1
            produce_claims(settings, generate_claims(CHUNK, seed), rate=RATE)
            poison.produce(settings.topics.input, b"not avro", b"poison")
            poison.poll(0)
        poison.flush(10)

    feeder = threading.Thread(target=load, name="load", daemon=True)
    with InProcessValidator(settings) as running:
        feeder.start()
        try:
            yield running
        finally:
            stop.set()
            feeder.join(30)


@pytest.fixture
def prometheus(validator: InProcessValidator) -> Iterator[Prometheus]:
    server = LocalPrometheus(
        [f"127.0.0.1:{validator.port}"], labels={"namespace": "it", "pod": "it-validator-0"}
    )
    try:
        server.start()
    except LocalSetupError as exc:  # a missing component fails, never skips
        pytest.fail(f"no Prometheus for the live test: {exc}", pytrace=False)
    try:
        yield Prometheus(server.url)
    finally:
        server.close()


def _rules(prometheus: Prometheus) -> list[dict[str, Any]]:
    return [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]


# Grafana's $__rate_interval at this Prometheus's 1 s scrape interval would be 4 s; 10 s
# leaves room for a late scrape on a busy machine.
RATE_INTERVAL = "10s"
# Samples each query must have before the dashboard is drawn: a rate over one point in time
# would pass the check and still draw nothing at another step.
POINTS = 5


def _without_data(prometheus: Prometheus, since: float) -> list[str]:
    """Dashboard queries with fewer than POINTS samples between `since` and now."""
    variables = grafana_variables("infusion-validator", RATE_INTERVAL, "5m")
    missing = []
    for panel in load_panels():
        for target in panel.targets:
            query = Target(fill(target.expr, variables), target.legend)
            found = prometheus.series(query, since, time.time(), 1.0)
            if max((len(s.times) for s in found), default=0) < POINTS:
                missing.append(f"{panel.title}: {query.expr}")
    return missing


def _why_empty(prometheus: Prometheus, titles: list[str], since: float) -> str:
    """What a failure needs to be read: each empty panel's first query over the same range
    with two rate windows, and how the scrapes went."""
    now = time.time()
    lines = [f"panels with no data: {titles}"]
    for panel in load_panels():
        if panel.title in titles and panel.targets:
            for window in ("10s", "1m"):
                variables = grafana_variables("infusion-validator", window, "1m")
                expr = fill(panel.targets[0].expr, variables)
                found = prometheus.query_range(expr, since - 60, now, 2)
                points = sum(len(r["values"]) for r in found)
                lines.append(f"  {panel.title} [{window}]: {len(found)} series, {points} points")
    up = prometheus.query_range("up", since - 60, now, 1)
    lines.append(f"  up: {[(r['metric'].get('instance'), r['values'][-5:]) for r in up]}")
    lines.append(f"  targets: {prometheus.api('targets')['activeTargets']}")
    return "\n".join(lines)


def test_rules_evaluate_dashboard_queries_return_data_and_target_down_fires(
    validator: InProcessValidator, prometheus: Prometheus, tmp_path: Path
) -> None:
    started = time.time()
    wait_for(
        lambda: any(t["health"] == "up" for t in prometheus.api("targets")["activeTargets"]),
        "Prometheus to scrape the validator", timeout=30,
    )  # fmt: skip

    rules = _rules(prometheus)
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert len(rules) == sum(len(g["rules"]) for g in groups), [r["name"] for r in rules]
    wait_for(
        lambda: all(r["health"] == "ok" for r in _rules(prometheus)),
        lambda: (
            "every rule to evaluate: "
            + str({r["name"]: (r["health"], r.get("lastError")) for r in _rules(prometheus)})
        ),
        timeout=60,
    )
    recorded = [r["name"] for r in rules if r["type"] == "recording"]

    def unrecorded() -> list[str]:
        return [n for n in recorded if not prometheus.api("query", query=n)["result"]]

    wait_for(lambda: not unrecorded(), lambda: f"samples of {unrecorded()}", timeout=90)
    wait_for(
        lambda: not _without_data(prometheus, started),
        lambda: f"data for every dashboard query; none for {_without_data(prometheus, started)}",
        timeout=90, interval=2,
    )  # fmt: skip

    picture = tmp_path / "dashboard.png"
    drawn = render(
        prometheus, picture, minutes=(time.time() - started) / 60 + 1, step=1,
        rate_interval=RATE_INTERVAL,
    )  # fmt: skip
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn
    empty = [title for title, count in drawn.items() if not count]
    assert not empty, _why_empty(prometheus, empty, started)

    validator.stop()  # the scrape target goes away

    def target_down() -> list[str]:
        alerts = prometheus.api("alerts")["alerts"]
        return [
            a["state"] for a in alerts
            if a["labels"]["alertname"] == "InfusionValidatorTargetDown"
            and a["state"] in ("pending", "firing")
        ]  # fmt: skip

    wait_for(target_down, "InfusionValidatorTargetDown to go pending", timeout=30)
