"""The effective parameters of one rule set for one provider contract, compiled for the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from consumer.engine.catalogue import Catalogue
from consumer.engine.registry import Rule


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A rule switched on by the rule set, with the reason codes it reports."""

    rule: Rule
    carc: str | None
    rarc: str | None


@dataclass(frozen=True, slots=True)
class Policy:
    """What the rules consult: parameters after any contract override."""

    policy_id: str
    version: str
    contract_id: str | None
    effective_from: date
    effective_to: date | None
    catalogue: Catalogue
    home_place_of_service: str
    ndc_qualifier: str
    ndc_units: frozenset[str]
    # Code groups each line of business may not bill.
    not_billable: dict[str, frozenset[str]]
    bundling_lines_of_business: frozenset[str]
    # Codes needing authorization beyond the catalogue's list, by line of business.
    extra_prior_authorization: dict[str, frozenset[str]]
    rules: tuple[ActiveRule, ...]

    def needs_authorization(self, code: str, catalogue_lobs: frozenset[str], lob: str) -> bool:
        extra = self.extra_prior_authorization.get(lob)
        return lob in catalogue_lobs or (extra is not None and code in extra)
