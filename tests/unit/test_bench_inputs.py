"""The bench's longer inputs: copies of the sample claims with fresh ids, and - for the latency
runs - fresh members, so that members keep the few claims each they have in the input the max
rate was measured on."""

from __future__ import annotations

from bench.inputs import Copies, member_of
from consumer.codec.decoding import RawClaimDecoder
from consumer.codec.encoding import claim_body
from tests.claim_examples import claim_record


def _items() -> list[tuple[bytes | None, bytes]]:
    claims = [
        claim_record(event_id="evt-1", claim_id="CLM-1", member_id="M001"),
        claim_record(event_id="evt-2", claim_id="CLM-2", member_id="M002"),
        claim_record(event_id="evt-1", claim_id="CLM-1", member_id="M001"),  # re-sent
    ]
    return [(c["member_id"].encode(), claim_body(c)) for c in claims]


def test_copies_keep_their_members_unless_asked_for_new_ones() -> None:
    decode = RawClaimDecoder().decode
    for new_members in (False, True):
        copies = Copies(_items(), 7, new_members=new_members)
        made = list(copies)
        claims = [decode(value) for _, value in made]
        assert len(made) == 7
        assert copies.resent == 2  # the re-sent event, once per whole copy
        assert [c["event_id"] for c in claims[3:6]] == ["evt-1-r1", "evt-2-r1", "evt-1-r1"]
        assert claims[6]["claim_id"] == "CLM-1-r2"
        members = [c["member_id"] for c in claims]
        if new_members:
            copied = ["M001-r1", "M002-r1", "M001-r1", "M001-r2"]
            assert members == ["M001", "M002", "M001", *copied]
            assert [key for key, _ in made] == [m.encode() for m in members]  # keyed by member
        else:
            assert members == ["M001", "M002", "M001"] * 2 + ["M001"]
        assert [member_of(value).decode() for _, value in made] == members
