"""Kafka's own perf tools (kafka-consumer-perf-test / kafka-producer-perf-test, i.e.
`org.apache.kafka.tools.ConsumerPerformance` / `ProducerPerformance`) from the same jars as the
broker: the broker's ceiling on this machine.

The consumer tool reads the benchmark's input topic; the producer tool writes records of the
input's mean size to a scratch topic with the same partition count (writing into the input would
change it for everyone else), acks=all and Kafka's client defaults otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.cluster import Cluster
from consumer.local.kafka_jars import fetch_jars

_LOG4J = """\
status = warn
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
"""
_PRODUCED = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


@dataclass
class PerfResult:
    rate: float  # records/s
    mb_per_second: float
    detail: str  # the tool's result line

    def as_dict(self) -> dict[str, object]:
        return {"rate": round(self.rate, 1), "mb_per_second": self.mb_per_second}


def _java(out_dir: Path, tool: str, args: list[str]) -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("kafka-perf needs java on PATH")
    log4j = out_dir / "log4j2-perf.properties"
    log4j.write_text(_LOG4J, "utf-8")
    cmd = [
        java, "-Xmx512m", f"-Dlog4j2.configurationFile=file:{log4j}",
        "-cp", str(fetch_jars() / "*"), f"org.apache.kafka.tools.{tool}", *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def consumer_perf(bootstrap: str, topic: str, records: int, out_dir: Path) -> PerfResult:
    """fetch.nMsg.sec: records/s while fetching (group join excluded)."""
    out = _java(out_dir, "ConsumerPerformance", [
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "30000",
    ])  # fmt: skip
    lines = [line for line in out.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.startswith("start.time"))
    names = [n.strip() for n in lines[header].split(",")]
    values = dict(zip(names, (v.strip() for v in lines[header + 1].split(",")), strict=False))
    consumed = int(values["data.consumed.in.nMsg"])
    if consumed < records:
        raise RuntimeError(f"ConsumerPerformance read {consumed} of {records} records")
    return PerfResult(
        float(values["fetch.nMsg.sec"]), float(values["fetch.MB.sec"]), lines[header + 1]
    )


def producer_perf(
    cluster: Cluster, records: int, record_size: int, partitions: int, out_dir: Path
) -> PerfResult:
    topic = f"bench.perf-producer-{uuid.uuid4().hex[:6]}"
    cluster.create({topic: partitions})
    try:
        out = _java(out_dir, "ProducerPerformance", [
            "--bootstrap-server", cluster.bootstrap, "--topic", topic,
            "--num-records", str(records), "--record-size", str(record_size),
            "--throughput", "-1", "--command-property", "acks=all",
        ])  # fmt: skip
    finally:
        cluster.delete([topic])
    summaries = list(_PRODUCED.finditer(out))  # progress lines, then the summary
    if not summaries:
        raise RuntimeError(f"ProducerPerformance printed no summary: {out[-500:]}")
    last = summaries[-1]
    return PerfResult(float(last.group(2)), float(last.group(3)), last.group(0))
