"""Static group membership (group_instance_id; the chart sets the pod name): an instance killed
with SIGKILL and back under the same id gets its partitions back without a rebalance - the
other member never gives up or receives a partition - and nothing is lost or duplicated."""

from __future__ import annotations

from collections.abc import Callable

from consumer.demo.samples import generate_claims
from tests.integration.streaming import (
    GroupWatcher,
    Validator,
    assert_exactly_once,
    make_topics,
    produce_claims,
    read_all,
    wait_for,
)


def _rebalance_events(validator: Validator) -> list[str]:
    names = ("partitions assigned", "partitions revoked", "partitions lost")
    return [e["event"] for e in validator.logs() if e.get("event") in names]


def test_a_static_member_killed_and_back_keeps_its_partitions_without_a_rebalance(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    topics = make_topics(topic_factory, 2)
    a = validators(topics, "a", env={"INFUSION_VALIDATOR_GROUP_INSTANCE_ID": "a"}).start()
    b = validators(topics, "b", env={"INFUSION_VALIDATOR_GROUP_INSTANCE_ID": "b"}).start()
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    first = list(generate_claims(400, seed=81))
    second = list(generate_claims(400, seed=82))
    try:

        def one_each() -> bool:
            mine = [v.events("partitions assigned") for v in (a, b)]
            return all(m and len(m[-1]["partitions"]) == 1 for m in mine)

        wait_for(one_each, lambda: f"one partition each\n{a.tail()}\n{b.tail()}", 90)
        a_partitions = a.events("partitions assigned")[-1]["partitions"]
        produce_claims(kafka_bootstrap, topics, first)
        group.wait_caught_up(60, lambda: f"\n{a.tail()}\n{b.tail()}")
        b_before = _rebalance_events(b)

        a.kill()
        a.start()  # the same group.instance.id, well within session.timeout.ms
        back = a.wait_assigned(60).events("partitions assigned")[-1]["partitions"]
        produce_claims(kafka_bootstrap, topics, second)
        group.wait_caught_up(60, lambda: f"\n{a.tail()}\n{b.tail()}")
        assert b.running, b.tail()
        assert _rebalance_events(b) == b_before, b.tail()  # B saw no rebalance at all
        assert back == a_partitions
        codes = [a.terminate()[0], b.terminate()[0]]
    finally:
        group.close()
    assert codes == [0, 0]
    assert_exactly_once(
        read_all(kafka_bootstrap, topics.decisions), {c["event_id"] for c in [*first, *second]}
    )
