"""Rule-set files (`rules/*.yaml` with a `policy_id`): validated with pydantic on load.

A bad file never gets as far as a claim: `load_rule_set` raises `RuleSetError` naming the file,
the key and what is wrong, which the CLI prints as one line.
"""

from __future__ import annotations

import difflib
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from consumer.engine.catalogue import Catalogue, CatalogueFile, compile_catalogue
from consumer.engine.codes import LineOfBusiness, LobOrAll, expand_codes, expand_lobs
from consumer.engine.policy import ActiveRule, Policy
from consumer.engine.registry import all_rules
from consumer.errors import RuleSetError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        known = all_rules()
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
            for spec in specs:
                expand_codes(spec)
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
        missing = sorted(set(all_rules()) - set(self.rules))
        if missing:
            raise ValueError(
                f"rules: no entry for {', '.join(missing)} (add one, or enabled: false)"
            )
        if self.effective_to and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self


class RuleSet:
    """One version of a policy: its default `Policy` and one per contract."""

    def __init__(self, data: RuleSetFile, catalogue: Catalogue, path: Path) -> None:
        self.path = path
        self.policy_id = data.policy_id
        self.version = data.version
        self.effective_from = data.effective_from
        self.effective_to = data.effective_to
        self.catalogue = catalogue
        self.default = _compile(data, data, None, catalogue)
        self.contracts = {
            cid: _compile(data, contract, cid, catalogue)
            for cid, contract in data.contracts.items()
        }

    def policy_for(self, contract_id: str | None) -> Policy:
        """The contract's policy, or the default for no contract or one without overrides."""
        if contract_id is None:
            return self.default
        return self.contracts.get(contract_id, self.default)

    def in_effect(self, day: date) -> bool:
        return day >= self.effective_from and (self.effective_to is None or day < self.effective_to)


def _compile(base: RuleSetFile, over: Overrides, contract_id: str | None, cat: Catalogue) -> Policy:
    code_sets = {**base.code_sets, **over.code_sets}
    reasons = {**base.rules, **over.rules}
    extra_pa: dict[str, set[str]] = {}
    for source in (base, over) if over is not base else (base,):
        for lob_spec, specs in source.extra_prior_authorization.items():
            for lob in expand_lobs([lob_spec]):
                extra_pa.setdefault(lob, set()).update(c for s in specs for c in expand_codes(s))
    registered = all_rules()
    bundling = over.bundling_lines_of_business
    return Policy(
        policy_id=base.policy_id,
        version=base.version,
        contract_id=contract_id,
        effective_from=base.effective_from,
        effective_to=base.effective_to,
        catalogue=cat,
        home_place_of_service=over.home_place_of_service or base.home_place_of_service,
        ndc_qualifier=base.ndc.qualifier,
        ndc_units=frozenset(base.ndc.units),
        not_billable={lob: frozenset(cs.not_billable) for lob, cs in code_sets.items()},
        bundling_lines_of_business=frozenset(
            bundling if bundling is not None else base.bundling_lines_of_business or ()
        ),
        extra_prior_authorization={lob: frozenset(codes) for lob, codes in extra_pa.items()},
        rules=tuple(
            ActiveRule(registered[rule_id], codes.carc, codes.rarc)
            for rule_id, codes in reasons.items()
            if codes.enabled
        ),
    )


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay strings for pydantic, so a bad date is
    reported with its key instead of escaping as a bare ValueError from the YAML parser."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path) -> Any:
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


def load_catalogue(path: Path) -> Catalogue:
    try:
        data = CatalogueFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from exc
    return compile_catalogue(data)


def load_rule_set(path: Path) -> RuleSet:
    """Load and validate a rule-set file and the catalogue it names (relative to the file)."""
    try:
        data = RuleSetFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _explain(path, exc) from exc
    catalogue = load_catalogue(path.parent / data.catalogue)
    unknown_groups = {
        group
        for over in (data, *data.contracts.values())
        for cs in over.code_sets.values()
        for group in cs.not_billable
    } - catalogue.groups
    if unknown_groups:
        raise RuleSetError(
            f"{path}: code_sets: unknown code group(s) {', '.join(sorted(unknown_groups))}; "
            f"the catalogue defines {', '.join(sorted(catalogue.groups))}"
        )
    return RuleSet(data, catalogue, path)


def is_rule_set_file(path: Path) -> bool:
    """Rule-set files are the YAML files of `rules/` that declare a `policy_id`."""
    data = _read_yaml(path)
    return isinstance(data, dict) and "policy_id" in data
