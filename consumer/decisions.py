"""Turning an engine outcome into the `ClaimDecision` record of SPEC §2.3."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from consumer import __version__
from consumer.engine import Outcome
from consumer.jsonform import timestamp_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOW: list[tuple[int, datetime]] = [(-1, datetime.min)]


def now() -> datetime:
    """The current UTC time to the millisecond (what a ClaimDecision holds), as one shared
    object per millisecond: the stream decides many claims per millisecond, and the encoder
    converts each object once."""
    millis = time.time_ns() // 1_000_000
    last = _NOW[0]
    if millis == last[0]:
        return last[1]
    moment = _EPOCH + timedelta(milliseconds=millis)
    _NOW[0] = (millis, moment)
    return moment


def source_of(topic: str, partition: int, offset: int) -> dict[str, Any]:
    """The Kafka coordinates of the input record (a `Source` record)."""
    return {"topic": topic, "partition": partition, "offset": offset}


def _head(
    claim: dict[str, Any], outcome: Outcome, source: dict[str, Any] | None, decided_at: Any
) -> dict[str, Any]:
    """Every ClaimDecision field but the claim, in schema order."""
    return {
        "event_id": claim["event_id"],
        "claim_id": claim["claim_id"],
        "member_id": claim["member_id"],
        "decision": outcome.decision,
        "reasons": outcome.reasons,
        "policy_id": outcome.policy_id,
        "rule_set_version": outcome.rule_set_version,
        "decided_at": decided_at,
        "validator_version": __version__,
        "source": source,
    }


def decision_record(
    claim: dict[str, Any],
    outcome: Outcome,
    *,
    source: dict[str, Any] | None = None,
    decided_at: datetime | None = None,
) -> dict[str, Any]:
    """The ClaimDecision record: the outcome, where the claim came from, and the claim itself
    (so downstream consumers need no join)."""
    head = _head(claim, outcome, source, decided_at or now())
    head["claim"] = claim
    return head


def decision_json_line(claim: dict[str, Any], outcome: Outcome, claim_json: bytes) -> bytes:
    """The JSON form of an offline decision as one line, with the claim spliced in exactly as
    it was received instead of converted back from the record (the offline path's largest
    cost). Equal to `decision_to_json(decision_record(...))` for a claim given in full."""
    head = _head(claim, outcome, None, timestamp_text(datetime.now(UTC)))
    return orjson.dumps(head)[:-1] + b',"claim":' + claim_json + b"}\n"
