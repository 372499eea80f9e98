"""Start-up errors of the real process (SPEC §10): every one ends in one clear line on stderr and
a non-zero exit, never a traceback, and before anything is done to Kafka - a running instance
with the same transactional id is not fenced. SIGTERM during start-up exits 0.

The cases run as concurrent processes (the unreachable broker takes ~15 s). Run with `-s` to
see the table of cases, exit codes, lines and seconds to exit.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from consumer.demo.samples import generate_claims
from consumer.engine.engine import DEFAULT_RULES_PATH
from tests.integration.streaming import (
    FAST_GROUP,
    GroupWatcher,
    Topics,
    Validator,
    make_topics,
    produce_claims,
    wait_for,
)

ERROR_PREFIX = "infusion-validator: error: "
PROPERTIES = "INFUSION_VALIDATOR_KAFKA__PROPERTIES"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _broken_rules(tmp_path: Path) -> Path:
    """A copy of rules/ whose rule set names a rule that does not exist (a typo)."""
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_PATH, rules)
    rule_set = rules / "RB.046.A.yaml"
    text = rule_set.read_text()
    assert "  pos.missing:" in text
    rule_set.write_text(text.replace("  pos.missing:", "  pos.mising:", 1))
    return rules


def _properties(extra: dict[str, object]) -> dict[str, str]:
    return {PROPERTIES: orjson.dumps({**FAST_GROUP, **extra}).decode()}


def _cases(
    topics: Topics, validators: Callable[..., Validator], tmp_path: Path, taken_port: int
) -> dict[str, tuple[Validator, list[str]]]:
    port = _closed_port()
    missing = dataclasses.replace(topics, input="it-no-such-topic-input")
    rules = _broken_rules(tmp_path)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kafka:\n  bootstrap_servers: [unclosed\n")
    nowhere = tmp_path / "no-such-config.yaml"

    def case(
        name: str, expected: list[str], on: Topics = topics, **options: object
    ) -> tuple[Validator, list[str]]:
        return validators(on, name, **options), expected

    return {
        "unreachable broker": case(
            "unreachable",
            [f"cannot reach Kafka at 127.0.0.1:{port}"],
            env={"INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"},
        ),
        "unknown topic": case(
            "missing-topic", ["it-no-such-topic-input", "do not exist"], on=missing
        ),
        "rule-set file error": case(
            "bad-rules",
            [str(rules / "RB.046.A.yaml"), "unknown rule id 'pos.mising'"],
            env={"INFUSION_VALIDATOR_RULES": str(rules)},
        ),
        "invalid setting value": case(
            "bad-setting",
            ["invalid settings", "processing.batch_size"],
            env={"INFUSION_VALIDATOR_PROCESSING__BATCH_SIZE": "0"},
        ),
        "invalid setting choice": case(
            "bad-choice",
            ["invalid settings", "processing.guarantee"],
            env={"INFUSION_VALIDATOR_PROCESSING__GUARANTEE": "maybe"},
        ),
        "malformed YAML config": case(
            "bad-yaml",
            [str(bad_yaml), "not valid YAML at line 3"],
            env={"INFUSION_VALIDATOR_CONFIG": str(bad_yaml)},
        ),
        "missing config file (--config)": case(
            "no-config-flag",
            [str(nowhere), "(from --config): no such file"],
            args=["--config", str(nowhere)],
        ),
        "missing config file (environment)": case(
            "no-config-env",
            [str(nowhere), "(from INFUSION_VALIDATOR_CONFIG): no such file"],
            env={"INFUSION_VALIDATOR_CONFIG": str(nowhere)},
        ),
        "unknown librdkafka property": case(
            "unknown-property",
            ["configuration refused", "no.such.property", "kafka.properties"],
            env=_properties({"no.such.property": "x"}),
        ),
        "invalid librdkafka value": case(
            "bad-property",
            ["configuration refused", "Invalid value", "session.timeout.ms"],
            env=_properties({"session.timeout.ms": "abc"}),
        ),
        "bad JSON in KAFKA__PROPERTIES": case(
            "bad-json",
            [f"environment variable {PROPERTIES}: not valid JSON"],
            env={PROPERTIES: "{session.timeout.ms: 6000"},
        ),
        "HTTP port in use": case(
            "port-taken",
            [f"http.port {taken_port}", "cannot listen", "in use"],
            env={"INFUSION_VALIDATOR_HTTP__PORT": str(taken_port)},
        ),
    }


def test_start_up_errors_are_one_line_and_a_non_zero_exit(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    tmp_path: Path,
    taken_port: int,
) -> None:
    topics = make_topics(topic_factory, 1, output_partitions=1)
    cases = _cases(topics, validators, tmp_path, taken_port)
    started = {}
    for name, (validator, _) in cases.items():
        validator.start()
        started[name] = time.monotonic()

    exited: dict[str, float] = {}  # seconds from start to exit, per case

    def all_exited() -> bool:
        for name, (validator, _) in cases.items():
            if name not in exited and not validator.running:
                exited[name] = time.monotonic() - started[name]
        return len(exited) == len(cases)

    wait_for(
        all_exited, lambda: f"every case to exit (still running: {set(cases) - set(exited)})", 90
    )
    table = ["| error | exit code | line printed | seconds to exit |", "|---|---|---|---|"]
    for case, (validator, expected) in cases.items():
        code = validator.wait_exit(1)
        seconds = exited[case]
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
        table.append(f"| {case} | {code} | `{plain[0]}` | {seconds:.1f} |")
    print("\n" + "\n".join(table))


def test_sigterm_during_start_up_exits_0(
    topic_factory: Callable[..., str], validators: Callable[..., Validator]
) -> None:
    topics = make_topics(topic_factory, 1, output_partitions=1)
    # A broker that never answers keeps it in start-up for 15 s.
    validator = validators(
        topics, env={"INFUSION_VALIDATOR_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}"}
    ).start()
    validator.wait_for_event("starting", 30)
    code, seconds = validator.terminate(timeout=10)
    assert code == 0, validator.tail()
    assert seconds < 5, seconds
    assert "Traceback" not in validator.output()
    assert validator.events("shutdown requested during start-up")


def test_a_failed_start_up_does_not_fence_the_running_instance(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    validators: Callable[..., Validator],
    unique_group_id: str,
) -> None:
    """A second process with the same transactional id whose start-up fails at the last check
    before the loop (a missing topic, found after the rule set loaded and the brokers answered)
    leaves the running one untouched: it goes on committing, and is never fenced."""
    topics = make_topics(topic_factory, 1, output_partitions=1)
    running = validators(topics, "running").start().wait_assigned()
    group = GroupWatcher(kafka_bootstrap, unique_group_id, topics.input)
    try:
        produce_claims(kafka_bootstrap, topics, generate_claims(200, seed=61))
        group.wait_caught_up(60, lambda: f"\n{running.tail()}")
        no_dlq = dataclasses.replace(topics, dlq="it-no-such-dlq")
        twin = validators(no_dlq, "twin", transactional_id=running.transactional_id).start()
        assert twin.wait_exit(60) != 0, twin.tail()
        assert "it-no-such-dlq" in twin.output().splitlines()[-1]
        produce_claims(kafka_bootstrap, topics, generate_claims(200, seed=62))
        group.wait_caught_up(60, lambda: f"\n{running.tail()}")
        assert running.running
        assert not [e for e in running.logs() if "fenced" in str(e.get("error", ""))]
    finally:
        group.close()
    code, _ = running.terminate()
    assert code == 0, running.tail()
