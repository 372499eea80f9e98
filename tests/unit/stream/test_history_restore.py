"""Restoring a partition's history asks the changelog's offsets again while the broker cannot
answer yet (a changelog created at start-up has no partition leader for a moment), and stops
with one line - not a traceback - when it still cannot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import consumer.stream.history
from consumer._native import History
from consumer.errors import KafkaSetupError
from consumer.settings import load_settings
from consumer.stream.history import restore

NOT_LEADER = KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION, "not leader"))


@dataclass
class Reader:
    """A changelog reader whose offsets query fails `failures` times, then finds it empty."""

    failures: int
    asked: list[TopicPartition] = field(default_factory=list)

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float, cached: bool) -> Any:
        self.asked.append(tp)
        if self.failures:
            self.failures -= 1
            raise NOT_LEADER
        return (0, 0)

    def close(self) -> None:
        pass


def _restore(monkeypatch: pytest.MonkeyPatch, reader: Reader) -> dict[int, float]:
    monkeypatch.setattr(consumer.stream.history, "Consumer", lambda config: reader)
    monkeypatch.setattr(consumer.stream.history, "RETRY_SECONDS", 0.0)
    history = History(400)
    return restore(load_settings(), history, [0, 1])


def test_offsets_the_broker_cannot_give_yet_are_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = Reader(failures=3)
    assert _restore(monkeypatch, reader) == {0: pytest.approx(0, abs=1), 1: pytest.approx(0, abs=1)}
    assert [tp.partition for tp in reader.asked] == [0, 0, 0, 0, 1]


def test_offsets_still_not_given_after_the_timeout_stop_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer.stream.history, "TIMEOUT", 0.0)
    with pytest.raises(KafkaSetupError) as raised:
        _restore(monkeypatch, Reader(failures=1_000))
    assert str(raised.value).startswith("cannot read the history changelog ")
    assert "[0]: " in str(raised.value)
    assert "\n" not in str(raised.value)
