"""The rule-set and catalogue files (`rules/*.yaml`), validated with pydantic on load.

A bad file never gets as far as a claim: `read_rule_set` raises `RuleSetError` naming the
file, the key and what is wrong, which the CLI prints as one line. What the files say reaches
the compiled engine as it is written (`model_dump`): the engine expands code ranges, merges
catalogue entries and applies contract overrides itself, so there is one reading of the data.
"""

from __future__ import annotations

import difflib
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from consumer import _native
from consumer.errors import RuleSetError

LineOfBusiness = Literal["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN"]
# "ALL" means every line of business, UNKNOWN included, so a claim with an unknown plan is
# never let through a rule that applies everywhere.
LINES_OF_BUSINESS: tuple[str, ...] = get_args(LineOfBusiness)
LobOrAll = Literal["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN", "ALL"]
Kind = Literal["drug", "per_diem", "hit_professional", "nursing", "equipment", "supply", "other"]


def _check_codes(specs: list[str]) -> list[str]:
    for spec in specs:
        _native.expand_codes(spec)  # ValueError saying what is wrong with the spec
    return specs


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the catalogue ----------------------------------------------------------------------------


class PrefixDefault(_Model):
    kind: Kind
    unit_basis: str | None = None


class CatalogueEntry(_Model):
    codes: list[str] = Field(min_length=1)
    kind: Kind | None = None
    unit_basis: str | None = None
    hit_category: Literal[1, 2, 3] | None = None
    groups: list[str] = []
    prior_authorization: list[LobOrAll] = []
    exclusive_with: list[str] = []
    exclusive_with_kinds: list[Kind] = []
    not_otherwise_classified: bool = False
    bundled_into_per_diem: bool = False
    initial_visit: bool = False
    add_on_to: str | None = None
    required_modifiers: dict[LineOfBusiness, list[str]] = {}
    effective_from: date | None = None
    effective_to: date | None = None

    @field_validator("codes", "exclusive_with")
    @classmethod
    def _codes_parse(cls, value: list[str]) -> list[str]:
        return _check_codes(value)

    @model_validator(mode="after")
    def _dates_ordered(self) -> CatalogueEntry:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class CatalogueFile(_Model):
    version: str
    prefix_defaults: dict[str, PrefixDefault] = {}
    entries: list[CatalogueEntry]

    @field_validator("prefix_defaults")
    @classmethod
    def _one_letter(cls, value: dict[str, PrefixDefault]) -> dict[str, PrefixDefault]:
        for prefix in value:
            if len(prefix) != 1:
                raise ValueError(f"{prefix!r} is not one letter")
        return value

    @property
    def groups(self) -> set[str]:
        return {group for entry in self.entries for group in entry.groups}


# --- the rule set -----------------------------------------------------------------------------


class ReasonCodes(_Model):
    carc: str | None = None
    rarc: str | None = None
    enabled: bool = True


class CodeSetPolicy(_Model):
    not_billable: list[str] = []


class NdcPolicy(_Model):
    qualifier: str = "N4"
    units: list[str] = Field(min_length=1)


class Overrides(_Model):
    """Everything a contract may change; the rule set itself is the same shape plus identity."""

    home_place_of_service: str | None = None
    code_sets: dict[LineOfBusiness, CodeSetPolicy] = {}
    bundling_lines_of_business: list[LineOfBusiness] | None = None
    extra_prior_authorization: dict[LobOrAll, list[str]] = {}
    rules: dict[str, ReasonCodes] = {}

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: dict[str, ReasonCodes]) -> dict[str, ReasonCodes]:
        known = _native.RULE_IDS
        for rule_id in rules:
            if rule_id not in known:
                close = difflib.get_close_matches(rule_id, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "see `rules check` docs"
                raise ValueError(f"unknown rule id {rule_id!r} ({hint})")
        return rules

    @field_validator("extra_prior_authorization")
    @classmethod
    def _codes_parse(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for specs in value.values():
            _check_codes(specs)
        return value


class Contract(Overrides):
    description: str = ""


class RuleSetFile(Overrides):
    policy_id: str
    version: str = Field(min_length=1)
    title: str = ""
    effective_from: date
    effective_to: date | None = None
    catalogue: str
    home_place_of_service: str = "12"
    ndc: NdcPolicy
    contracts: dict[str, Contract] = {}

    @model_validator(mode="after")
    def _complete(self) -> RuleSetFile:
        missing = sorted(set(_native.RULE_IDS) - set(self.rules))
        if missing:
            raise ValueError(
                f"rules: no entry for {', '.join(missing)} (add one, or enabled: false)"
            )
        if self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self


# --- reading ----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay strings for pydantic, so a bad date is
    reported with its key instead of escaping as a bare ValueError from the YAML parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except OSError as exc:
        raise RuleSetError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc


def _explain(path: Path, exc: ValidationError) -> RuleSetError:
    """One line per problem: the file, the key path and pydantic's message."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: "
        + err["msg"].removeprefix("Value error, ")
        for err in exc.errors()
    )
    return RuleSetError(f"{path}: {problems}")


def read_rule_set(path: Path) -> dict[str, Any]:
    """A rule-set file and the catalogue it names (relative to it), validated, as the engine
    takes them: `{"path", "rule_set", "catalogue"}`."""
    try:
        rule_set = RuleSetFile.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from exc
    catalogue_path = path.parent / rule_set.catalogue
    try:
        catalogue = CatalogueFile.model_validate(read_yaml(catalogue_path))
    except ValidationError as exc:
        raise _explain(catalogue_path, exc) from exc
    unknown_groups = {
        group
        for over in (rule_set, *rule_set.contracts.values())
        for code_set in over.code_sets.values()
        for group in code_set.not_billable
    } - catalogue.groups
    if unknown_groups:
        raise RuleSetError(
            f"{path}: code_sets: unknown code group(s) {', '.join(sorted(unknown_groups))}; "
            f"the catalogue defines {', '.join(sorted(catalogue.groups))}"
        )
    return {
        "path": str(path),
        "rule_set": rule_set.model_dump(mode="json"),
        "catalogue": catalogue.model_dump(mode="json"),
    }


def is_rule_set_file(path: Path) -> bool:
    """Rule-set files are the YAML files of `rules/` that declare a `policy_id`."""
    data = read_yaml(path)
    return isinstance(data, dict) and "policy_id" in data
