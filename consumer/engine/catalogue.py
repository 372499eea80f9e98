"""The code catalogue (`rules/catalogue.yaml`): what each procedure code is, as the rules need it.

The file is validated with pydantic on load, then compiled into one immutable `CodeInfo` per
listed code so that the per-claim work is a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from consumer.engine.codes import (
    Kind,
    LineOfBusiness,
    LobOrAll,
    expand_codes,
    expand_lobs,
    normalise_code,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        for spec in value:
            expand_codes(spec)  # raises ValueError with the offending spec
        return value

    @model_validator(mode="after")
    def _dates_ordered(self) -> CatalogueEntry:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class CatalogueFile(_Model):
    version: str
    prefix_defaults: dict[str, PrefixDefault] = {}
    entries: list[CatalogueEntry]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """Everything the rules know about one procedure code."""

    code: str
    kind: str = "other"
    unit_basis: str | None = None
    hit_category: int | None = None
    groups: frozenset[str] = frozenset()
    prior_authorization: frozenset[str] = frozenset()
    exclusive_with: frozenset[str] = frozenset()
    exclusive_with_kinds: frozenset[str] = frozenset()
    not_otherwise_classified: bool = False
    bundled_into_per_diem: bool = False
    initial_visit: bool = False
    add_on_to: str | None = None
    required_modifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    effective_from: date | None = None
    effective_to: date | None = None
    # J- and Q-code drugs carry the infusion count and NDC requirements.
    is_jq_drug: bool = False
    # Any exclusivity at all, so the pairwise check can skip the common case cheaply.
    has_exclusions: bool = False


RESOLVED_CACHE_SIZE = 4096


class Catalogue:
    """Lookup from a (normalised) procedure code to its `CodeInfo`."""

    def __init__(self, version: str, infos: dict[str, CodeInfo], defaults: dict[str, CodeInfo]):
        self.version = version
        self._infos = infos
        self._defaults = defaults
        self._other = CodeInfo(code="")
        # Raw code as submitted -> (normalised code, info): claims repeat a few hundred codes,
        # so the hot path is one dict hit. Bounded: emptied when full (garbage codes).
        self._resolved: dict[str, tuple[str, CodeInfo]] = {}

    def lookup(self, code: str) -> CodeInfo:
        """Info for a normalised code; unlisted codes get their prefix default (shared objects,
        so a stream of garbage codes allocates nothing)."""
        info = self._infos.get(code)
        if info is not None:
            return info
        return self._defaults.get(code[:1], self._other)

    def resolve(self, raw: str) -> tuple[str, CodeInfo]:
        """(normalised code, its info) for a procedure code as submitted."""
        hit = self._resolved.get(raw)
        if hit is None:
            code = normalise_code(raw)
            hit = (code, self.lookup(code))
            if len(self._resolved) >= RESOLVED_CACHE_SIZE:
                self._resolved.clear()
            self._resolved[raw] = hit
        return hit

    def entries(self) -> tuple[dict[str, CodeInfo], dict[str, CodeInfo], CodeInfo]:
        """(listed codes, defaults by first letter, the entry of anything else), for
        `consumer.fastpath`, which hands the whole catalogue to the compiled hot path."""
        return dict(self._infos), dict(self._defaults), self._other

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(g for info in self._infos.values() for g in info.groups)

    def __len__(self) -> int:
        return len(self._infos)


def compile_catalogue(data: CatalogueFile) -> Catalogue:
    """Merge the entries code by code (later entries refine earlier ones) and freeze them."""
    merged: dict[str, dict[str, Any]] = {}

    def slot(code: str) -> dict[str, Any]:
        if code not in merged:
            default = data.prefix_defaults.get(code[:1])
            merged[code] = {
                "code": code,
                "kind": default.kind if default else "other",
                "unit_basis": default.unit_basis if default else None,
                "groups": set(),
                "prior_authorization": set(),
                "exclusive_with": set(),
                "exclusive_with_kinds": set(),
                "required_modifiers": {},
            }
        return merged[code]

    for entry in data.entries:
        partners = [c for spec in entry.exclusive_with for c in expand_codes(spec)]
        for code in (c for spec in entry.codes for c in expand_codes(spec)):
            info = slot(code)
            for name in ("kind", "unit_basis", "hit_category", "add_on_to"):
                if getattr(entry, name) is not None:
                    info[name] = getattr(entry, name)
            for name in ("effective_from", "effective_to"):
                if getattr(entry, name) is not None:
                    info[name] = getattr(entry, name)
            for name in ("not_otherwise_classified", "bundled_into_per_diem", "initial_visit"):
                info[name] = info.get(name, False) or getattr(entry, name)
            info["groups"].update(entry.groups)
            info["prior_authorization"].update(expand_lobs(entry.prior_authorization))
            info["exclusive_with_kinds"].update(entry.exclusive_with_kinds)
            for lob, modifiers in entry.required_modifiers.items():
                info["required_modifiers"][lob] = tuple(normalise_code(m) for m in modifiers)
            # "Do not use A with B" binds both ways.
            info["exclusive_with"].update(partners)
            for partner in partners:
                slot(partner)["exclusive_with"].add(code)

    infos = {code: _freeze(fields) for code, fields in merged.items()}
    defaults = {
        prefix: _freeze({"code": prefix, "kind": default.kind, "unit_basis": default.unit_basis})
        for prefix, default in data.prefix_defaults.items()
    }
    return Catalogue(data.version, infos, defaults)


def _freeze(fields: dict[str, Any]) -> CodeInfo:
    frozen: dict[str, Any] = {
        k: frozenset(v) if isinstance(v, set) else v for k, v in fields.items()
    }
    frozen["is_jq_drug"] = frozen["kind"] == "drug" and frozen["code"][:1] in ("J", "Q")
    frozen["has_exclusions"] = bool(
        frozen.get("exclusive_with") or frozen.get("exclusive_with_kinds")
    )
    return CodeInfo(**frozen)
