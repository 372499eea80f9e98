"""Type stubs for the compiled hot path (native/src/lib.rs); see consumer/fastpath.py."""

from collections.abc import Sequence
from typing import Any

RULE_IDS: list[str]

class FastPath:
    def __init__(
        self,
        config_json: str,
        *,
        validator_version: str,
        accepted_topic: str,
        pended_topic: str,
        max_value_bytes: int,
        max_lines: int,
        duration_bounds: list[float],
        header_len: int = 0,
        accepted_prefix: bytes = b"",
        pended_prefix: bytes = b"",
    ) -> None: ...
    def allow_schema_id(self, schema_id: int) -> None: ...
    def process(self, records: Sequence[Any]) -> list[Any]: ...
    def validate_json(self, lines: Sequence[bytes]) -> list[bytes | None]: ...
    def take_tally(self) -> dict[str, Any]: ...
