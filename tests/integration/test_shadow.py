"""A shadow rule set on the real broker (SPEC §4 `run --shadow-rule-set`): a candidate that adds
one code to a prior-authorization list disagrees with the live rule set on exactly the claims
`replay --diff` reports, counted by kind and rule and written to the shadow topic in the
batch's transaction; and the accepted and pended topics are what a run without it writes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consumer.demo.samples import generate_claims
from consumer.replay.command import ReplayRequest, run_replay
from consumer.settings import Settings
from consumer.stream.metrics import SHADOW_CHANGES
from consumer.stream.producing import produce_claims
from tests.integration.inprocess import InProcessValidator
from tests.integration.rulesets import changed_rule_set
from tests.integration.streaming import Record, outcome_of, read_all

CLAIMS = 3000


def run_service(settings: Settings, records: int) -> tuple[list[Record], dict[str, Any]]:
    """Run the service in this process until it has taken `records` input records; its
    accepted and pended records, and its shadow counters' samples."""
    with InProcessValidator(settings) as validator:
        validator.wait_processed(records, timeout=120)
    registry = validator.service.registry
    samples = {
        (metric.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in registry.collect()
        if metric.name.startswith("infusion_validator_shadow")
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    topics = settings.topics
    return read_all(settings.kafka.bootstrap_servers, [topics.accepted, topics.pended]), samples


def counted(samples: dict[str, Any], metric: str, label: str) -> Counter[Any]:
    """Non-zero samples of one shadow counter, by the value of `label` (all labels if '')."""
    out: Counter[Any] = Counter()
    for (name, labels), value in samples.items():
        if name == f"infusion_validator_{metric}" and value:
            out[dict(labels)[label] if label else labels] += int(value)
    return out


def test_a_shadow_rule_set_disagrees_where_replay_diff_says_and_changes_no_live_decision(
    service_settings: Settings,
    topic_factory: Callable[..., str],
    unique_group_id: str,
    tmp_path: Path,
) -> None:
    claims = list(generate_claims(CLAIMS, 19))  # with re-sent events, duplicates, overlaps
    produce_claims(service_settings, claims)
    candidate = changed_rule_set(tmp_path)
    shadow_topic = topic_factory(3, prefix="shadow")
    shadowed = service_settings.model_copy(
        update={
            "shadow": service_settings.shadow.model_copy(
                update={"rule_set": str(candidate), "topic": shadow_topic}
            )
        }
    )
    live, samples = run_service(shadowed, len(claims))

    report_path = tmp_path / "diff.json"
    assert run_replay(service_settings, ReplayRequest(diff=str(candidate), report=report_path)) == 0
    report = json.loads(report_path.read_text())
    assert report["changed"] > 0, "the sample must contain claims the candidate pends"
    assert report["resent"] > 0, "the sample must contain re-sent events"

    # The shadow topic: one record per disagreeing claim, as --diff lists them.
    bootstrap = service_settings.kafka.bootstrap_servers
    shadow = [json.loads(r.value or b"") for r in read_all(bootstrap, [shadow_topic])]
    assert sorted(r["event_id"] for r in shadow) == sorted(c["event_id"] for c in report["changes"])
    by_event = {c["event_id"]: c for c in report["changes"]}
    for record in shadow:
        change = by_event[record["event_id"]]
        assert record["kind"] == change["kind"]
        assert record["rules"] == change["rules"]
        assert (record["live"]["decision"], record["shadow"]["decision"]) == (
            change["before"],
            change["after"],
        )
        assert (record["source"]["partition"], record["source"]["offset"]) == (
            change["partition"],
            change["offset"],
        )

    # The counters: by kind and by rule, as --diff counts them.
    assert counted(samples, "shadow_disagreements", "kind") == Counter(report["by_kind"])
    by_rule = Counter(
        {(rule[1:], SHADOW_CHANGES[rule[0]]): n for rule, n in report["by_rule"].items()}
    )
    rule_changes = Counter(
        {
            (dict(labels)["rule_id"], dict(labels)["change"]): n
            for labels, n in counted(samples, "shadow_rule_changes", "").items()
        }
    )
    assert rule_changes == by_rule
    decided = sum(counted(samples, "shadow_decisions", "decision").values())
    assert decided == report["compared"] == len(live)

    # Live decisions are those of a run without the shadow (its own group and outputs).
    plain = service_settings.model_copy(
        update={
            "group_id": f"{unique_group_id}-plain",
            "topics": service_settings.topics.model_copy(
                update={
                    "accepted": topic_factory(3, prefix="acc2"),
                    "pended": topic_factory(3, prefix="pend2"),
                }
            ),
            "processing": service_settings.processing.model_copy(
                update={"transactional_id": f"{unique_group_id}-plain"}
            ),
        }
    )
    without, _ = run_service(plain, len(claims))

    def outputs(records: list[Record], settings: Settings) -> dict[str, tuple[str, Any]]:
        topic_kind = {settings.topics.accepted: "accepted", settings.topics.pended: "pended"}
        return {r.event_id: (topic_kind[r.topic], outcome_of(r.decision)) for r in records}

    assert len(live) == len(without)
    assert outputs(live, shadowed) == outputs(without, plain)
