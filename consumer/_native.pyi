"""Type stubs of the compiled engine (`native/src/py/`); Python code uses it through
`consumer.engine`."""

from collections.abc import Sequence
from typing import Any, final

from confluent_kafka import Producer

RULE_IDS: list[str]

def age_buckets(
    records: list[Any], now_ms: float, bounds: Sequence[float]
) -> tuple[list[int], float]: ...
def batch_offsets(
    records: list[Any],
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]: ...
def encode_claim(line: bytes) -> bytes | None: ...
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
        self,
        other: Engine,
        bodies: Sequence[bytes],
        max_lines: int,
        history: History | None = None,
        partitions: Sequence[int] | None = None,
    ) -> tuple[list[Difference | None], list[int], list[int]]: ...

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
        history: History | None = None,
        shadow: Engine | None = None,
        keep_decisions: bool = False,
    ) -> None: ...
    def allow_schema_id(self, schema_id: int) -> None: ...
    def take_decisions(self) -> Decisions: ...
    def take_shadow(self) -> list[tuple[Any, bytes]]: ...
    def process(
        self, records: Sequence[Any], start: int = 0, end: int | None = None
    ) -> tuple[list[Any], int]: ...
    def decide_body(self, msg: Any, body: bytes) -> Any: ...
    def take_tally(self) -> dict[str, Any]: ...

@final
class History:
    def __init__(self, retention_days: int) -> None: ...
    def assign(self, partition: int) -> None: ...
    def revoke(self, partition: int) -> None: ...
    def partitions(self) -> list[int]: ...
    def members(self, partition: int) -> int: ...
    def restore(self, partition: int, records: Sequence[tuple[bytes, bytes | None]]) -> None: ...
    def record(self, partition: int, bodies: Sequence[bytes]) -> list[int]: ...
    def changelog(self) -> Changelog: ...
    def commit(self) -> None: ...
    def seal(self) -> None: ...
    def commit_sealed(self) -> None: ...
    def abort(self) -> None: ...

@final
class Changelog:
    def __len__(self) -> int: ...
    def records(self) -> list[tuple[int, bytes, bytes | None]]: ...
    def produce(self, producer: NativeProducer, topic: str, start: int = 0) -> int: ...

@final
class Decisions:
    def __len__(self) -> int: ...
    def records(
        self,
    ) -> list[tuple[str, bytes | None, bytes, list[tuple[str, str | bytes | None]]]]: ...
    def produce(self, producer: NativeProducer, start: int = 0) -> int: ...

@final
class NativeProducer:
    def __init__(self, producer: Producer, library: str, client_id: str) -> None: ...

@final
class OfflineDecider:
    def __init__(
        self,
        engine: Engine,
        *,
        validator_version: str,
        max_lines: int,
        history: History | None = None,
    ) -> None: ...
    def decide_text(
        self, text: bytes, start: int, record_only: bool = False
    ) -> tuple[bytes, int, int]: ...
    def decide_body(self, body: bytes, claim_text: bytes, record_only: bool = False) -> bytes: ...
    def explain_body(self, body: bytes) -> tuple[Decision, list[RuleVerdict]] | None: ...
    def compare_body(
        self, body: bytes, other: Engine
    ) -> tuple[Decision, Decision, Difference | None] | None: ...
    def take_tally(self) -> dict[str, Any]: ...
