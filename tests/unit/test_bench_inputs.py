"""The bench's count of re-sent events a validator with history decides no second time."""

from __future__ import annotations

import zlib
from datetime import date, timedelta
from typing import Any

from bench.inputs import Resends, history_retention_days
from consumer.settings import Settings

START = date(2026, 7, 1)


def claim(event_id: str, member: str, day: int, to_day: int | None = None) -> dict[str, Any]:
    first = (START + timedelta(days=day)).isoformat()
    last = None if to_day is None else (START + timedelta(days=to_day)).isoformat()
    return {
        "event_id": event_id,
        "member_id": member,
        "lines": [{"service_date_from": first, "service_date_to": last}],
    }


def partition_of(member: str, partitions: int = 6) -> int:
    return zlib.crc32(member.encode()) % partitions


def members_on_one_partition(count: int) -> list[str]:
    found: dict[int, list[str]] = {}
    for n in range(1000):
        member = f"M{n}"
        found.setdefault(partition_of(member), []).append(member)
        if len(found[partition_of(member)]) == count:
            return found[partition_of(member)]
    raise AssertionError("no partition got enough members")


def test_a_re_sent_event_counts_while_its_claim_is_within_retention() -> None:
    a, b = members_on_one_partition(2)
    resends = Resends(partitions=6, retention_days=400)
    resends.note(claim("e1", a, 0, 9))
    resends.note(claim("e2", b, 409))  # the newest day is now exactly 400 after e1's last day
    resends.note(claim("e1", a, 0, 9))
    assert resends.count == 1


def test_a_re_sent_event_whose_claim_left_the_history_is_decided_again() -> None:
    a, b = members_on_one_partition(2)
    resends = Resends(partitions=6, retention_days=400)
    resends.note(claim("e1", a, 0, 9))
    resends.note(claim("e2", b, 410))  # 401 days after e1's last day: e1 has left
    resends.note(claim("e1", a, 0, 9))
    assert resends.count == 0


def test_retention_follows_the_newest_day_of_the_event_s_own_partition() -> None:
    a = "M0"
    other = next(f"M{n}" for n in range(1, 1000) if partition_of(f"M{n}") != partition_of(a))
    resends = Resends(partitions=6, retention_days=400)
    resends.note(claim("e1", a, 0))
    resends.note(claim("e2", other, 900))  # another partition's history moves on, not e1's
    resends.note(claim("e1", a, 0))
    assert resends.count == 1


def test_the_retention_is_the_validators_own() -> None:
    assert history_retention_days({}) == Settings().history.retention_days
    assert history_retention_days({"INFUSION_VALIDATOR_HISTORY__RETENTION_DAYS": "30"}) == 30
