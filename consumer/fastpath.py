"""The compiled hot path: whole batches decoded, decided and encoded in Rust (`native/`).

Pure Python spends ~70 µs on a 5-line claim (decode, 31 rules, encode); the compiled path
does the same in a few µs, which is what lets one core keep up with SPEC §9's rates. The
Python engine stays the reference and the rule set stays YAML: this module hands the loaded
rule sets to `consumer._native` as data, and the native side mirrors the rules in
`consumer/engine/rules/` message for message (`tests/unit/test_native.py` holds it to them).

The native side is strict: a record it cannot decode, or a claim whose text only Python
formats exactly (a repr of non-ASCII text, say), comes back as None and goes through the
Python path of `ClaimProcessor.process_batch` - which decides it, or dead-letters it with the
exact error class.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from consumer import __version__, _native
from consumer.decoding import CONFLUENT_HEADER, SchemaRegistryUnavailableError
from consumer.encoding import ConfluentDecisionEncoder
from consumer.engine import Engine
from consumer.engine.catalogue import Catalogue, CodeInfo
from consumer.engine.icd10 import billable_codes
from consumer.engine.policy import Policy
from consumer.engine.registry import all_rules
from consumer.errors import SchemaError
from consumer.metrics import CLAIM_BUCKETS
from consumer.schemas import CLAIM, schema_json
from consumer.settings import Settings
from consumer.wire import registry_client

log = logging.getLogger(__name__)

_EPOCH = date(1970, 1, 1)


def _days(day: date | None) -> int | None:
    return None if day is None else (day - _EPOCH).days


def _code_info(info: CodeInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "hit_category": info.hit_category,
        "groups": sorted(info.groups),
        "prior_authorization": sorted(info.prior_authorization),
        "exclusive_with": sorted(info.exclusive_with),
        "exclusive_with_kinds": sorted(info.exclusive_with_kinds),
        "not_otherwise_classified": info.not_otherwise_classified,
        "bundled_into_per_diem": info.bundled_into_per_diem,
        "add_on_to": info.add_on_to,
        "required_modifiers": {lob: list(mods) for lob, mods in info.required_modifiers.items()},
        "effective_from": _days(info.effective_from),
        "effective_to": _days(info.effective_to),
        "is_jq_drug": info.is_jq_drug,
        "has_exclusions": info.has_exclusions,
    }


def _catalogue(catalogue: Catalogue) -> dict[str, Any]:
    codes, defaults, other = catalogue.entries()
    return {
        "codes": {code: _code_info(info) for code, info in codes.items()},
        "prefix_defaults": {prefix: _code_info(info) for prefix, info in defaults.items()},
        "other": _code_info(other),
    }


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "policy_id": policy.policy_id,
        "version": policy.version,
        "effective_from": _days(policy.effective_from),
        "home_place_of_service": policy.home_place_of_service,
        "ndc_qualifier": policy.ndc_qualifier,
        "ndc_units": sorted(policy.ndc_units),
        "not_billable": {lob: sorted(groups) for lob, groups in policy.not_billable.items()},
        "bundling_lines_of_business": sorted(policy.bundling_lines_of_business),
        "extra_prior_authorization": {
            lob: sorted(codes) for lob, codes in policy.extra_prior_authorization.items()
        },
        "rules": [
            {"rule_id": active.rule.rule_id, "carc": active.carc, "rarc": active.rarc}
            for active in policy.rules
        ],
    }


def native_config(engine: Engine) -> str:
    """The engine's rule sets, catalogues and ICD-10-CM code set as the JSON the native side
    reads (dates as days since 1970-01-01)."""
    rule_sets = [
        {
            "effective_from": _days(rs.effective_from),
            "effective_to": _days(rs.effective_to),
            "catalogue": _catalogue(rs.catalogue),
            "default": _policy(rs.default),
            "contracts": {cid: _policy(p) for cid, p in rs.contracts.items()},
        }
        for rs in engine.rule_sets
    ]
    return json.dumps({"rule_sets": rule_sets, "billable_diagnoses": sorted(billable_codes())})


def missing_native_rules() -> list[str]:
    """Registered rules the native side does not implement (then it cannot be used)."""
    return sorted(set(all_rules()) - set(_native.RULE_IDS))


def build_fast_path(
    settings: Settings, engine: Engine, registry: SchemaRegistryClient | None = None
) -> _native.FastPath | None:
    """The compiled path for these settings, or None (logged once, with the reason) when
    only the Python path can serve them: a writer schema other than ours, a rule the native
    side lacks, or (confluent) a registry that cannot be asked at start-up.

    Confluent framing: values written with the schema id our `ClaimSubmitted` has under
    `<input>-value` take the compiled path, any other id the Python one; decisions get the
    id the decision encoder registers (or finds) for each output topic.
    """
    reason = _unsupported(settings)
    if reason is None:
        try:
            return _build(settings, engine, registry)
        except (ValueError, SchemaError, SchemaRegistryUnavailableError) as exc:
            reason = str(exc)
    log.warning("compiled fast path off; deciding in Python", extra={"reason": reason})
    return None


def _build(
    settings: Settings, engine: Engine, registry: SchemaRegistryClient | None
) -> _native.FastPath:
    confluent_in = settings.input_wire_format == "confluent"
    confluent_out = settings.decision_wire_format == "confluent"
    if (confluent_in or confluent_out) and registry is None:
        registry = registry_client(settings)
        if registry is None:
            raise ValueError("the confluent wire format needs schema_registry.url")
    prefixes = [b"", b""]
    if confluent_out:
        assert registry is not None
        encoder = ConfluentDecisionEncoder(registry)
        for i, topic in enumerate((settings.topics.accepted, settings.topics.pended)):
            prefixes[i] = CONFLUENT_HEADER.pack(0, encoder.schema_id(topic))
    native = _native.FastPath(
        native_config(engine),
        validator_version=__version__,
        accepted_topic=settings.topics.accepted,
        pended_topic=settings.topics.pended,
        max_value_bytes=settings.processing.max_value_bytes,
        max_lines=settings.processing.max_lines,
        duration_bounds=list(CLAIM_BUCKETS),
        header_len=CONFLUENT_HEADER.size if confluent_in else 0,
        accepted_prefix=prefixes[0],
        pended_prefix=prefixes[1],
    )
    if confluent_in:
        assert registry is not None
        schema_id = our_claim_schema_id(registry, f"{settings.topics.input}-value")
        if schema_id is None:
            log.warning(
                "our ClaimSubmitted schema is not registered under the input subject; "
                "every claim is decided in Python",
                extra={"subject": f"{settings.topics.input}-value"},
            )
        else:
            native.allow_schema_id(schema_id)
    return native


def our_claim_schema_id(registry: SchemaRegistryClient, subject: str) -> int | None:
    """The id of our `ClaimSubmitted` schema under `subject`, None when not registered there."""
    try:
        found = registry.lookup_schema(subject, Schema(schema_json(CLAIM), "AVRO"))
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise SchemaRegistryUnavailableError(f"subject {subject}: {exc}") from exc
    except Exception as exc:  # transport, TLS, OAuth: the registry cannot be asked now
        raise SchemaRegistryUnavailableError(f"subject {subject}: {type(exc).__name__}") from exc
    return None if found.schema_id is None else int(found.schema_id)


def build_offline_fast_path(engine: Engine, max_lines: int) -> _native.FastPath | None:
    """The compiled path for offline `validate` (JSON Lines), or None (logged) when a rule
    has no native implementation."""
    missing = missing_native_rules()
    if missing:
        log.warning("compiled path off", extra={"reason": f"no native {', '.join(missing)}"})
        return None
    return _native.FastPath(
        native_config(engine),
        validator_version=__version__,
        accepted_topic="",
        pended_topic="",
        max_value_bytes=0,
        max_lines=max_lines,
        duration_bounds=list(CLAIM_BUCKETS),
    )


def _unsupported(settings: Settings) -> str | None:
    if settings.writer_schema:
        return "a writer schema other than ours is read by fastavro"
    missing = missing_native_rules()
    if missing:
        return f"no native implementation of {', '.join(missing)}"
    return None
