"""The chaos harness's judge can fail: a read-back with one decision dropped, duplicated, put on
the wrong topic, naming the wrong source record or deciding differently is counted as such."""

from __future__ import annotations

import dataclasses

from tests.integration.chaos import Decided, InputEvent, judge

ACCEPTED, PENDED = "claims.accepted", "claims.pended"
OUTCOME = ("ACCEPTED", "2026.1", [])


def _run(n: int = 20) -> tuple[list[InputEvent], list[Decided]]:
    inputs = [InputEvent(f"e{i}", i % 3, i // 3) for i in range(n)]
    decided = [
        Decided(e.event_id, ACCEPTED, "ACCEPTED", e.partition, e.offset, OUTCOME) for e in inputs
    ]
    return inputs, decided


def _judge(inputs: list[InputEvent], decided: list[Decided], **kwargs: object):  # type: ignore[no-untyped-def]
    return judge(inputs, decided, accepted=ACCEPTED, pended=PENDED, **kwargs)  # type: ignore[arg-type]


def test_a_faithful_read_back_passes() -> None:
    inputs, decided = _run()
    verdict = _judge(inputs, decided, expected_outcomes={d.event_id: OUTCOME for d in decided})
    assert verdict.ok, verdict.describe()
    assert verdict.describe().startswith("20 decisions for 20 events: 0 lost, 0 duplicated")


def test_a_dropped_decision_is_counted_as_lost() -> None:
    inputs, decided = _run()
    verdict = _judge(inputs, decided[:7] + decided[8:])
    assert not verdict.ok
    assert verdict.lost == ["e7"]
    assert verdict.duplicated == {}


def test_a_duplicated_decision_is_counted_as_duplicated() -> None:
    inputs, decided = _run()
    verdict = _judge(inputs, [*decided, decided[3]])
    assert not verdict.ok
    assert verdict.duplicated == {"e3": 2}
    assert verdict.lost == []
    # Where each copy came from, to find it in the logs.
    assert verdict.duplicates_seen == ["e3 (first at (0, 1)) decided from 0:1 at ?, 0:1 at ?"]


def test_a_decision_on_the_wrong_topic_or_from_the_wrong_record_is_counted() -> None:
    inputs, decided = _run()
    decided[2] = dataclasses.replace(decided[2], topic=PENDED)
    decided[5] = dataclasses.replace(decided[5], source_offset=99)
    verdict = _judge(inputs, decided)
    assert verdict.misrouted == ["e2"]
    assert verdict.wrong_source == ["e5"]
    assert not verdict.ok


def test_a_decision_unlike_the_expected_outcome_is_counted() -> None:
    inputs, decided = _run()
    expected = {d.event_id: OUTCOME for d in decided}
    expected["e4"] = ("PENDED", "2026.1", [("pos.missing", 1, "16", "M77", "")])
    verdict = _judge(inputs, decided, expected_outcomes=expected)
    assert verdict.differing == ["e4"]
    assert not verdict.ok


def test_an_event_nobody_produced_is_counted_as_unexpected() -> None:
    inputs, decided = _run()
    verdict = _judge(inputs[:-1], decided)
    assert verdict.unexpected == ["e19"]
    assert not verdict.ok
