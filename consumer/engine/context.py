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
# Modifier lists as submitted -> their normalised set; few distinct lists occur. Bounded.
_MODIFIER_SETS: dict[tuple[str, ...], frozenset[str]] = {}
_MODIFIER_CACHE_SIZE = 1024


def _modifier_set(modifiers: list[str]) -> frozenset[str]:
    key = tuple(modifiers)
    found = _MODIFIER_SETS.get(key)
    if found is None:
        found = frozenset(normalise_code(m) for m in modifiers)
        if len(_MODIFIER_SETS) >= _MODIFIER_CACHE_SIZE:
            _MODIFIER_SETS.clear()
        _MODIFIER_SETS[key] = found
    return found


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

    # The hot path of every claim (once per line): `_text` and `normalise_code` are inlined or
    # cached here, with the same results.
    def __init__(
        self, line: dict[str, Any], claim_pos: str | None, claim_auth: bool, catalogue: Catalogue
    ) -> None:
        self.number: int = line["line_number"]
        self.code: str
        self.info: CodeInfo
        self.code, self.info = catalogue.resolve(line["procedure_code"])
        date_from: date = line["service_date_from"]
        # A missing to-date means a single day of service.
        date_to: date = line["service_date_to"] or date_from
        self.date_from = date_from
        self.date_to = date_to
        # None when the span is backwards: the dates rule reports it, the others skip the line.
        self.days: int | None = (date_to - date_from).days + 1 if date_to >= date_from else None
        pos = line["place_of_service"]
        self.place_of_service: str | None = ((pos.strip() or None) if pos else None) or claim_pos
        self.units: float | None = line["units"]
        self.infusions: int | None = line["infusions"]
        modifiers = line["modifiers"]
        self.modifiers: frozenset[str] = _modifier_set(modifiers) if modifiers else _NO_MODIFIERS
        self.ndc: dict[str, Any] | None = line["ndc"]
        if claim_auth:
            self.has_auth: bool = True
        else:
            auth = line["prior_authorization"]
            self.has_auth = bool(auth and auth.strip())
        self.pointers: list[int] = line["diagnosis_pointers"]
        self.charge = line["charge"]
        self.rendering_npi: str | None = line["rendering_npi"]
        description = line["description"]
        self.description: str | None = (description.strip() or None) if description else None

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
