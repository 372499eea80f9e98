"""Type stubs of the compiled engine (`native/src/py/`); Python code uses it through
`consumer.engine`."""

from collections.abc import Sequence
from typing import Any, final

RULE_IDS: list[str]

def expand_codes(spec: str) -> list[str]: ...
def valid_npi(npi: str) -> bool: ...

@final
class Reason:
    rule_id: str
    line_number: int | None
    carc: str | None
    rarc: str | None
    message: str

@final
class Decision:
    decision: str
    reasons: list[Reason]
    policy_id: str
    rule_set_version: str

@final
class RuleVerdict:
    rule_id: str
    summary: str
    status: str
    reasons: list[Reason]

@final
class Difference:
    event_id: str
    claim_id: str
    before: str
    after: str
    rules: list[tuple[str, str]]

@final
class Engine:
    versions: list[str]
    policy_id: str
    def __init__(self, files_json: str) -> None: ...
    def describe(self) -> list[dict[str, Any]]: ...
    def decide(self, body: bytes) -> Decision: ...
    def explain(self, body: bytes) -> tuple[Decision, list[RuleVerdict]]: ...
    def compare(
        self, other: Engine, bodies: Sequence[bytes], max_lines: int
    ) -> tuple[list[Difference | None], list[int]]: ...

@final
class StreamDecider:
    def __init__(
        self,
        engine: Engine,
        *,
        validator_version: str,
        accepted_topic: str,
        pended_topic: str,
        max_value_bytes: int,
        max_lines: int,
        duration_bounds: list[float],
        header_len: int = 0,
        reads_raw: bool = True,
        accepted_prefix: bytes = b"",
        pended_prefix: bytes = b"",
    ) -> None: ...
    def allow_schema_id(self, schema_id: int) -> None: ...
    def process(self, records: Sequence[Any]) -> list[Any]: ...
    def decide_body(self, msg: Any, body: bytes) -> Any: ...
    def take_tally(self) -> dict[str, Any]: ...

@final
class JsonDecider:
    def __init__(self, engine: Engine, *, validator_version: str, max_lines: int) -> None: ...
    def decide_text(self, text: bytes, start: int) -> tuple[bytes, int, int]: ...
    def decide_body(self, body: bytes, claim_text: bytes) -> bytes: ...
    def take_tally(self) -> dict[str, Any]: ...
