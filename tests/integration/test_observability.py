"""Observability on the real broker (SPEC §6): the service's /metrics tell the truth about a
known mix of claims, lag drains to zero, histograms fill, health endpoints answer, and no PHI
reaches a log line or a metric label."""

from __future__ import annotations

import io
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from consumer._native import History
from consumer.codec.encoding import claim_body
from consumer.demo.samples import generate_claims
from consumer.engine import Engine
from consumer.logs import JsonFormatter
from consumer.offline.validate import decider
from consumer.records.claims import claim_from_json
from consumer.settings import Settings
from consumer.stream.http import HealthServer
from consumer.stream.producing import produce_claims
from consumer.stream.service import Service, build_service

CLAIMS = 3000
POISON = [b"garbage", b"", b"\x00\x00\x00\x00\x01"]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def status(port: int, path: str) -> int:
    try:
        return int(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def running(service_settings: Settings, kafka_bootstrap: str) -> Iterator[dict[str, Any]]:
    """The service in this process (so its logs can be captured), over a known mix of claims."""
    settings = service_settings
    claims = list(generate_claims(CLAIMS, 21))
    produce_claims(settings, claims)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in POISON:
        producer.produce(settings.topics.input, value, b"poison")
    producer.flush()

    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    service: Service = build_service(settings)
    http = HealthServer("127.0.0.1", 0, service.registry, service.readiness)
    before_start = status(http.port, "/readyz")
    thread = threading.Thread(target=service.pipeline.run, daemon=True)
    thread.start()
    try:
        yield {
            "claims": claims,
            "port": http.port,
            "service": service,
            "logs": log_stream,
            "ready_before_start": before_start,
        }
    finally:
        service.pipeline.stop()
        thread.join(30)
        http.close()
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_metrics_equal_the_true_numbers_and_lag_drains(running: dict[str, Any]) -> None:
    port, service = running["port"], running["service"]
    total = CLAIMS + len(POISON)
    wait_for(lambda: service.pipeline.processed >= total, "every record to be processed")

    # The truth: the same claims as one stream with its history (as `validate` decides them).
    stream = decider(Engine.load(), History(400))
    decisions: Counter[tuple[str, str]] = Counter()
    failures: Counter[str] = Counter()
    resent = 0
    for claim in running["claims"]:
        explained = stream.explain_body(claim_body(claim_from_json(claim)))
        if explained is None:
            resent += 1
            continue
        outcome = explained[0]
        decisions[(outcome.decision, claim["line_of_business"])] += 1
        failures.update(r.rule_id for r in outcome.reasons if r.carc)

    metrics = scrape(port)
    for (decision, lob), count in decisions.items():
        key = (
            "infusion_validator_decisions_total",
            (("decision", decision), ("line_of_business", lob)),
        )
        assert metrics[key] == count, (decision, lob)
    exported_failures = {
        dict(labels)["rule_id"]: value
        for (name, labels), value in metrics.items()
        if name == "infusion_validator_rule_failures_total" and value
    }
    assert exported_failures == dict(failures)
    dead = sum(v for (n, _), v in metrics.items() if n == "infusion_validator_dlq_records_total")
    assert dead == len(POISON)
    assert metrics[("infusion_validator_duplicate_events_total", ())] == resent > 0
    topic = service.settings.topics.input
    assert metrics[("infusion_validator_records_consumed_total", (("topic", topic),))] == total
    assert metrics[("infusion_validator_claim_duration_seconds_count", ())] == CLAIMS
    assert metrics[("infusion_validator_end_to_end_latency_seconds_count", ())] == total
    assert metrics[("infusion_validator_batch_duration_seconds_count", ())] > 0
    committed = metrics[("infusion_validator_transactions_total", (("result", "committed"),))]
    for step in ("produce", "send_offsets", "commit"):
        steps = metrics[("infusion_validator_transaction_step_seconds_count", (("step", step),))]
        assert steps == committed, step
    loop = {
        step: metrics[("infusion_validator_loop_step_seconds_count", (("step", step),))]
        for step in ("consume", "decide", "commit_wait")
    }
    # Every committed transaction was waited for, and its batch consumed and decided.
    assert loop["consume"] >= loop["decide"] >= committed
    assert loop["commit_wait"] >= committed
    assert metrics[("infusion_validator_transactions_total", (("result", "committed"),))] > 0
    assert metrics[("infusion_validator_assigned_partitions", ())] == 3
    assert metrics[("infusion_validator_rebalances_total", (("kind", "assign"),))] >= 1
    build = [
        labels for (name, labels), _ in metrics.items() if name == "infusion_validator_build_info"
    ]
    assert dict(build[0])["policy_id"] == "RB.046.A"

    def lag_drained() -> bool:
        lags = {
            labels: value
            for (name, labels), value in scrape(port).items()
            if name == "infusion_validator_consumer_lag_records"
        }
        return len(lags) == 3 and not any(lags.values())

    wait_for(lag_drained, "the lag gauge of all 3 partitions to reach 0", timeout=30)


def test_health_endpoints(running: dict[str, Any]) -> None:
    port, service = running["port"], running["service"]
    assert running["ready_before_start"] == 503
    assert status(port, "/healthz") == 200
    wait_for(lambda: status(port, "/readyz") == 200, "/readyz to turn ready")
    wait_for(lambda: service.pipeline.processed >= CLAIMS, "the claims to be processed")
    assert status(port, "/nope") == 404


def test_no_phi_in_log_lines_or_metric_labels(running: dict[str, Any]) -> None:
    port, service = running["port"], running["service"]
    wait_for(lambda: service.pipeline.processed >= CLAIMS + len(POISON), "processing")
    logs = running["logs"].getvalue()
    assert '"record dead-lettered"' in logs  # the log did capture the service's lines
    labels = " ".join(f"{k}={v}" for (_, pairs), _ in scrape(port).items() for k, v in pairs)
    phi: set[str] = set()
    for claim in running["claims"]:
        phi.add(claim["member_id"])
        phi.add(claim["billing_npi"])
        phi.update(npi for npi in [claim["rendering_npi"]] if npi)
        phi.update(line["rendering_npi"] for line in claim["lines"] if line["rendering_npi"])
        phi.update(code for code in claim["diagnosis_codes"] if len(code) >= 4)
    leaked = sorted(value for value in phi if value and (value in logs or value in labels))
    assert leaked == []
