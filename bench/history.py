"""Claim history at scale (SPEC §9, issue 15): restore rate from a changelog holding `members`
members, and the RSS of a process holding that history.

Then one validator (defaults, history on) runs the headline input with that changelog as its
history's: a build whose Kafka loop restores history starts with every member in memory, so
its peak RSS is the figure SPEC §9 asks for; `bench.probe` says whether it restored.

A compacted topic with the input's partition count is filled by `bench.changelog_tool produce`
(the engine's own History and StreamDecider, so the values are what a validator writes), then
`bench.changelog_tool restore` - a fresh process that first loads the rule sets and decides a
claim, like a validator before its first assignment - times `consumer.stream.history.restore` of
every partition and reports its RSS before and its peak after.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import orjson
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from bench.apps import REPO, Workload, run_app, with_settings


def _tool(command: str, w: Workload, topic: str, extra: list[str], log: str) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "bench.changelog_tool", command, "--bootstrap", w.bootstrap,
        "--topic", topic, "--partitions", str(w.partitions), *extra,
    ]  # fmt: skip
    with open(log, "ab") as err:
        done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"changelog_tool {command} failed ({done.returncode}): see {log}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def measure_history(w: Workload, members: int, claims_per_member: int) -> dict[str, Any]:
    topic = f"bench.history-{uuid.uuid4().hex[:6]}.changelog"
    new = NewTopic(topic, w.partitions, 1, config={"cleanup.policy": "compact"})
    for future in w.cluster.admin.create_topics([new], request_timeout=30).values():
        future.result(30)
    log = str(w.out_dir / "logs" / f"{topic}.log")
    (w.out_dir / "logs").mkdir(parents=True, exist_ok=True)
    try:
        made = _tool("produce", w, topic, [
            "--members", str(members), "--claims-per-member", str(claims_per_member),
        ], log)  # fmt: skip
        restored = _tool("restore", w, topic, [], log)
        # The validator itself with this changelog as its history's: once the Kafka loop
        # restores history it holds the members too, and its peak RSS is the real figure
        # (bench.probe tells whether it restored anything).
        settings = {"INFUSION_VALIDATOR_HISTORY__CHANGELOG_TOPIC": topic}
        validator = run_app(with_settings(w, settings), "validator").as_dict()
    finally:
        w.cluster.delete([topic])
    return {
        "members": members,
        "claims_per_member": claims_per_member,
        "changelog": made,
        "restore": restored,
        "validator": validator,
        "rate": restored["rate"],
        "ok": restored["members"] == made["members"] == members,
    }
