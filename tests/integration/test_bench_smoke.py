"""Smoke test of the benchmark (`python -m bench --quick`, SPEC §9) on the session broker: a few
thousand claims, every measurement but the py-spy profile, once. It checks that the harness
runs end to end and that its numbers are sane - not the targets (the full benchmark is not
part of CI; see bench/README.md), so nothing here depends on how fast the machine is.

The peer (Quix Streams) runs in its own virtual environment under ~/.cache/infusion-validator/,
created on first use from PyPI (about a minute), like the Kafka jars.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.cli import QUICK, main
from bench.targets import targets
from consumer.local.kafka import LocalKafka
from consumer.local.kafka_jars import SAFEPOINT_LOG

CLAIMS = int(QUICK["claims"])
APPS = (
    "validator", "validator-stateless", "validator-shadow", "validator-alos", "validator-2p",
    "passthrough", "passthrough-changelog", "peer", "validator.l50", "passthrough.l50",
)  # fmt: skip


def test_bench_smoke(kafka_bootstrap: str, local_kafka: LocalKafka | None, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--quick", "--bootstrap", kafka_bootstrap, "--partitions", "3", "--out", str(out)]
    if local_kafka is not None:
        stops = local_kafka.work_dir / SAFEPOINT_LOG
        assert stops.stat().st_size > 0  # the local broker logs its safepoints
        args += ["--broker-stops", str(stops)]
    code = main(args)
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    results, meta = report["results"], report["meta"]
    assert (out / "table.txt").read_text().count("claims/s") >= 1
    assert (out / "results.png").stat().st_size > 10_000

    # Every consumer under test decided (or copied) each input record exactly once - each new
    # event, when the validator's history is at work and skips re-sent ones.
    for name in APPS:
        run = results[name]["runs"][0]
        assert run["ok"], f"{name}: {run['outputs']}"
        assert 10 < run["rate"] < 5_000_000, f"{name}: {run['rate']} claims/s"
        assert 0 < run["peak_rss_mb"] < 2000, name
    assert results["validator"]["runs"][0]["outputs"]["dlq"] == 0
    # The changelog stand-in: one record per input beside the copies, not counted as outputs.
    assert results["passthrough-changelog"]["runs"][0]["outputs"] == {
        "out": CLAIMS, "changelog": CLAIMS,
    }  # fmt: skip
    assert results["validator-stateless"]["runs"][0]["history_requested"] is False
    assert results["validator-shadow"]["runs"][0]["shadow_requested"] is True
    assert meta["inputs"]["5"]["claims"] == CLAIMS
    assert 0 < meta["inputs"]["5"]["resent"] < CLAIMS

    for name in ("kafka-perf-consumer", "kafka-perf-producer", "offline", "diff"):
        assert 100 < results[name]["median"] < 50_000_000, f"{name}: {results[name]}"
    assert results["offline"]["claims_per_cpu_second"] > 0
    diff = results["diff"]["runs"][0]
    assert diff["compared"] + diff["resent"] == CLAIMS
    assert diff["resent"] == meta["inputs"]["5"]["resent"]
    assert 0 < diff["changed"] < CLAIMS  # the candidate rule set pends unauthorised J1170

    rows = results["latency"]["rows"]
    assert {r["app"] for r in rows} == {"validator", "passthrough"}
    rates = {r["rate"] for r in rows}  # 2000/s and half the validator's max (may be the same)
    assert results["latency"]["half_max_rate"] in rates
    assert 2000 in rates
    for r in rows:
        assert 0 < r["count"] <= r["sent"], r
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] < 60_000, r
        if local_kafka is not None:  # the broker's stops, from its safepoint log
            assert 0 <= r["claims_in_stop_pct"] <= 100, r
            assert 0 <= r["broker_stopped_pct"] < 100, r
            assert 0 <= r["broker_stop_max_ms"] < 60_000, r

    memory = results["rss"]
    assert memory["claims"] == 2 * CLAIMS
    assert memory["ok"]
    assert 20 < memory["peak_rss_mb"] < 2000

    history = results["history"]
    assert history["ok"], history
    assert history["restore"]["records"] >= history["members"] == QUICK["history_members"]
    assert history["restore"]["peak_rss_mb"] >= history["restore"]["rss_before_mb"] > 20

    names = [t["name"] for t in report["targets"]]
    assert names == [t.name for t in targets(results)]
    assert len(names) == 11
    # Every target is judged, or says why not (history/shadow not at work in this build).
    for t in report["targets"]:
        assert t["passed"] is not None or t["note"], t
