"""A claim prepared once for all rules: codes normalised, catalogue looked up, spans computed.

Rules read these views instead of the raw record, so normalisation happens in one place and
no rule repeats the same work.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from consumer.engine.catalogue import Catalogue, CodeInfo
from consumer.engine.codes import normalise_code
from consumer.engine.policy import Policy

_NO_MODIFIERS: frozenset[str] = frozenset()


def _text(value: str | None) -> str | None:
    """A stripped string, or None when absent or blank."""
    return (value.strip() or None) if value else None


class LineView:
    """One service line, normalised."""

    __slots__ = (
        "charge",
        "code",
        "date_from",
        "date_to",
        "days",
        "description",
        "has_auth",
        "info",
        "infusions",
        "modifiers",
        "ndc",
        "number",
        "place_of_service",
        "pointers",
        "rendering_npi",
        "units",
    )

    def __init__(
        self, line: dict[str, Any], claim_pos: str | None, claim_auth: bool, catalogue: Catalogue
    ) -> None:
        self.number: int = line["line_number"]
        self.code: str = normalise_code(line["procedure_code"])
        self.info: CodeInfo = catalogue.lookup(self.code)
        self.date_from: date = line["service_date_from"]
        # A missing to-date means a single day of service.
        self.date_to: date = line["service_date_to"] or self.date_from
        # None when the span is backwards: the dates rule reports it, the others skip the line.
        self.days: int | None = (
            (self.date_to - self.date_from).days + 1 if self.date_to >= self.date_from else None
        )
        self.place_of_service: str | None = _text(line["place_of_service"]) or claim_pos
        self.units: float | None = line["units"]
        self.infusions: int | None = line["infusions"]
        modifiers = line["modifiers"]
        self.modifiers: frozenset[str] = (
            frozenset(normalise_code(m) for m in modifiers) if modifiers else _NO_MODIFIERS
        )
        self.ndc: dict[str, Any] | None = line["ndc"]
        self.has_auth: bool = claim_auth or bool(_text(line["prior_authorization"]))
        self.pointers: list[int] = line["diagnosis_pointers"]
        self.charge = line["charge"]
        self.rendering_npi: str | None = line["rendering_npi"]
        self.description: str | None = _text(line["description"])

    def overlaps(self, other: LineView) -> bool:
        """True when the two lines share at least one date of service."""
        return self.date_from <= other.date_to and other.date_from <= self.date_to


class ClaimContext:
    """The claim as the rules see it: claim-level facts plus the lines the policy governs."""

    __slots__ = ("all_lines", "claim", "lines", "lob", "policy", "submitted_on")

    def __init__(
        self, claim: dict[str, Any], lines: list[LineView], in_scope: list[LineView], policy: Policy
    ) -> None:
        self.claim = claim
        self.policy = policy
        self.lob: str = claim["line_of_business"]
        submitted: datetime = claim["submitted_at"]
        self.submitted_on: date = submitted.date()
        self.all_lines = lines
        # Lines entirely before the policy's effective date are not subject to it.
        self.lines = in_scope


def line_views(claim: dict[str, Any], catalogue: Catalogue) -> list[LineView]:
    """Normalise every line of a claim record."""
    claim_pos = _text(claim["place_of_service"])
    claim_auth = _text(claim["prior_authorization"]) is not None
    return [LineView(line, claim_pos, claim_auth, catalogue) for line in claim["lines"]]
