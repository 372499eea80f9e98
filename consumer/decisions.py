"""Turning an engine outcome into the `ClaimDecision` record of SPEC §2.3."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from consumer import __version__
from consumer.engine import Outcome
from consumer.jsonform import timestamp_text


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
    head = _head(claim, outcome, source, decided_at or datetime.now(UTC))
    head["claim"] = claim
    return head


def decision_json_line(claim: dict[str, Any], outcome: Outcome, claim_json: bytes) -> bytes:
    """The JSON form of an offline decision as one line, with the claim spliced in exactly as
    it was received instead of converted back from the record (the offline path's largest
    cost). Equal to `decision_to_json(decision_record(...))` for a claim given in full."""
    head = _head(claim, outcome, None, timestamp_text(datetime.now(UTC)))
    return orjson.dumps(head)[:-1] + b',"claim":' + claim_json + b"}\n"
