"""Start-up errors of the real process (SPEC §10): an unreachable broker, a missing topic, a bad
rule file or an invalid setting end in one clear line on stderr and a non-zero exit, never a
traceback. The cases run as concurrent processes (the unreachable broker takes ~15 s)."""

from __future__ import annotations

import dataclasses
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from consumer.engine.engine import DEFAULT_RULES_PATH
from tests.integration.streaming import Validator, make_topics

ERROR_PREFIX = "infusion-validator: error: "


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broken_rules(tmp_path: Path) -> Path:
    """A copy of rules/ whose rule set names a rule that does not exist (a typo)."""
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_PATH, rules)
    rule_set = rules / "RB.046.A.yaml"
    text = rule_set.read_text()
    assert "  pos.missing:" in text
    rule_set.write_text(text.replace("  pos.missing:", "  pos.mising:", 1))
    return rules


def test_start_up_errors_are_one_line_and_a_non_zero_exit(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    tmp_path: Path,
) -> None:
    topics = make_topics(topic_factory, 1, output_partitions=1)
    port = _closed_port()
    missing = dataclasses.replace(topics, input="it-no-such-topic-input")
    rules = _broken_rules(tmp_path)
    cases: dict[str, tuple[Validator, list[str]]] = {
        "unreachable broker": (
            validators(
                topics,
                "unreachable",
                env={"INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"},
            ),
            [f"cannot reach Kafka at 127.0.0.1:{port}"],
        ),
        "missing topic": (
            validators(missing, "missing-topic"),
            ["it-no-such-topic-input", "do not exist"],
        ),
        "bad rule file": (
            validators(topics, "bad-rules", env={"INFUSION_VALIDATOR_RULES": str(rules)}),
            [str(rules / "RB.046.A.yaml"), "unknown rule id 'pos.mising'"],
        ),
        "invalid setting value": (
            validators(
                topics, "bad-setting", env={"INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "0"}
            ),
            ["invalid settings", "processing.batch_size"],
        ),
        "invalid setting choice": (
            validators(
                topics, "bad-choice", env={"INFUSION_VALIDATOR_PROCESSING__GUARANTEE": "maybe"}
            ),
            ["invalid settings", "processing.guarantee"],
        ),
    }
    for validator, _ in cases.values():
        validator.start()

    for case, (validator, expected) in cases.items():
        code = validator.wait_exit(45)
        output = validator.output()
        # Everything but the error is a JSON log line (the service's or librdkafka's).
        plain = [line for line in output.splitlines() if not line.startswith("{")]
        assert code != 0, f"{case}: exit {code}\n{validator.tail()}"
        assert len(plain) == 1, f"{case}: {plain}"
        assert plain[0].startswith(ERROR_PREFIX), f"{case}: {plain[0]}"
        for text in expected:
            assert text in plain[0], f"{case}: {text!r} not in {plain[0]!r}"
        assert "Traceback" not in output, f"{case}\n{validator.tail()}"
        assert output.splitlines()[-1] == plain[0], f"{case}: the error is not the last line"
