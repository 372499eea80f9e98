"""The loop's fetch restart on the real broker: librdkafka can leave an assigned partition
`stopped` for good after a broker restart (the chaos test saw it), and after 30 s out of
`active` the loop assigns its partitions again from the group's committed offsets. Forced here
twice mid-stream (the decision to restart is the one thing stood in for; the restart itself is
the service's, against the broker): every event is decided once, and as an offline `validate`
of the stream decides it, so the claim history was neither lost nor applied twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from consumer.demo.samples import generate_claims
from consumer.settings import Settings
from consumer.stream.fetching import FetchStates, NotFetching
from consumer.stream.producing import produce_claims
from tests.integration.inprocess import InProcessValidator
from tests.integration.streaming import assert_exactly_once, outcome_of, read_all, validate_offline

CLAIMS = 6000


class RestartAt(FetchStates):
    """A restart due once the loop has processed each of `counts` records (the statistics'
    fetch states are still tracked, and a real stall still restarts)."""

    def __init__(self, counts: list[int], processed: Callable[[], int]) -> None:
        super().__init__()
        self.counts = counts
        self.processed = processed

    def restart_due(self) -> list[NotFetching]:
        if self.counts and self.processed() >= self.counts[0]:
            self.counts.pop(0)
            return [NotFetching(0, "stopped", 31.0)]
        return super().restart_due()


def test_a_fetch_restarted_mid_stream_keeps_exactly_once_and_the_history(
    service_settings: Settings, tmp_path: Path
) -> None:
    claims = list(generate_claims(CLAIMS, 211))  # with re-sent events, duplicates, overlaps
    produce_claims(service_settings, claims)
    validator = InProcessValidator(service_settings)
    pipeline = validator.pipeline
    pipeline.fetching = RestartAt([1500, 4000], lambda: pipeline.processed)
    with validator:
        validator.wait_processed(CLAIMS, timeout=180)
    assert validator.logged("restarting the fetch of partitions not fetched from") == 2
    restarts = validator.service.registry.get_sample_value(
        "infusion_validator_fetch_restarts_total"
    )
    assert restarts == 2
    topics = service_settings.topics
    decisions = read_all(service_settings.kafka.bootstrap_servers, [topics.accepted, topics.pended])
    expected = validate_offline(claims, tmp_path)
    assert_exactly_once(decisions, expected)
    wrong = [r.event_id for r in decisions if outcome_of(r.decision) != expected[r.event_id]]
    assert not wrong, f"{len(wrong)} decided otherwise than offline, e.g. {wrong[:3]}"
