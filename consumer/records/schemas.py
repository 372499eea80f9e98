"""The Avro schemas of the product, loaded from `schemas/avro/` and parsed once.

Each named type lives in its own file `<namespace>.<Name>.avsc`; a file refers to other named
types by full name and fastavro's `load_schema` pulls the sibling files in. Parsed schemas are
cached per (directory, full name) and per writer-schema file, so the hot path never parses.

A parsed schema is the value fastavro's `parse_schema`/`load_schema` returns (a dict carrying
fastavro's private `__fastavro_parsed` marker); pass it as is to fastavro's readers and writers.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fastavro.repository.base import SchemaRepositoryError
from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    load_schema,
    parse_schema,
    to_parsing_canonical_form,
)

from consumer.errors import SchemaError
from consumer.paths import SCHEMAS

NAMESPACE = "infusion.claims"
CLAIM = f"{NAMESPACE}.ClaimSubmitted"
DECISION = f"{NAMESPACE}.ClaimDecision"

# The repository layout puts schemas/ beside the package (editable installs and the container
# image copy both); callers pass `directory` to use another copy.
DEFAULT_SCHEMA_DIR = SCHEMAS

ParsedSchema = dict[str, Any]


def _resolve_dir(directory: str | Path | None) -> Path:
    return DEFAULT_SCHEMA_DIR if directory is None else Path(directory).resolve()


def schema_files(directory: str | Path | None = None) -> list[Path]:
    """Every `.avsc` file in the schema directory, sorted by name."""
    return sorted(_resolve_dir(directory).glob("*.avsc"))


def parsed_schema(full_name: str, directory: str | Path | None = None) -> ParsedSchema:
    """The parsed schema of the named type `full_name` (e.g. `infusion.claims.ClaimSubmitted`).

    Loaded from `<directory>/<full_name>.avsc` (default: the repository's `schemas/avro/`) with
    its referenced types, parsed once and cached. Raises SchemaError naming the file and the
    problem when the file is missing, is not JSON, is not valid Avro or names another type.
    """
    return _load_named(full_name, _resolve_dir(directory))


def claim_schema(directory: str | Path | None = None) -> ParsedSchema:
    """The parsed `ClaimSubmitted` schema (our reader schema)."""
    return _load_named(CLAIM, _resolve_dir(directory))


def decision_schema(directory: str | Path | None = None) -> ParsedSchema:
    """The parsed `ClaimDecision` schema (the output record)."""
    return _load_named(DECISION, _resolve_dir(directory))


def schema_json(full_name: str, directory: str | Path | None = None) -> str:
    """The named type as one self-contained JSON document, every referenced type inlined.

    This is the text to register in a Schema Registry: it needs no schema references.
    """
    return _expanded_json(full_name, _resolve_dir(directory))


def load_schema_file(path: str | Path) -> ParsedSchema:
    """Parse a configured writer-schema file (named types it references are read from files
    `<full name>.avsc` beside it); cached per resolved path. Raises SchemaError."""
    return _load_file(Path(path).resolve())


def parse_schema_text(text: str, origin: str) -> ParsedSchema:
    """Parse an Avro schema given as JSON text (e.g. fetched from a registry).

    `origin` names where the text came from for the SchemaError message.
    """
    try:
        return _parse(json.loads(text))
    except (ValueError, TypeError, KeyError, SchemaParseException) as exc:
        raise SchemaError(f"{origin}: not a valid Avro schema: {exc}") from exc


def canonical_form(schema: ParsedSchema) -> str:
    """Avro's Parsing Canonical Form: equal for two schemas that read and write the same."""
    return str(to_parsing_canonical_form(schema))


def _parse(obj: Any) -> ParsedSchema:
    parsed = parse_schema(obj)
    if not isinstance(parsed, dict):
        # Our records and registry values are records; a bare primitive or union is a mistake.
        raise SchemaParseException("top-level schema must be a named type, not a primitive/union")
    return parsed


@functools.cache
def _load_named(full_name: str, directory: Path) -> ParsedSchema:
    return _load_file(directory / f"{full_name}.avsc", expect_name=full_name)


@functools.cache
def _load_file(path: Path, expect_name: str | None = None) -> ParsedSchema:
    if not path.is_file():
        raise SchemaError(f"{path}: schema file not found")
    try:
        parsed = load_schema(str(path))
    except UnknownType as exc:
        raise SchemaError(
            f"{path}: refers to type {exc.name!r}, which is neither defined in the file nor "
            f"found as {exc.name}.avsc beside it"
        ) from exc
    except (SchemaRepositoryError, SchemaParseException, ValueError, TypeError, KeyError) as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise SchemaError(f"{path}: not a valid Avro schema: {exc}{cause}") from exc
    if not isinstance(parsed, dict) or "name" not in parsed:
        raise SchemaError(f"{path}: top-level schema must be a named type (record or enum)")
    if expect_name is not None and parsed["name"] != expect_name:
        raise SchemaError(
            f"{path}: defines {parsed['name']!r}; the file must be named {parsed['name']}.avsc"
        )
    return parsed


@functools.cache
def _expanded_json(full_name: str, directory: Path) -> str:
    parsed = _load_named(full_name, directory)
    # fastavro keeps its bookkeeping in "__"-prefixed top-level keys; they are not Avro.
    plain = {k: v for k, v in parsed.items() if not k.startswith("__")}
    return json.dumps(plain, separators=(",", ":"))
