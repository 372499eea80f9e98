"""Smoke test of the benchmark (`python -m bench`, SPEC §9) on the session broker: a few
thousand claims, every measurement but the py-spy profile, once. It checks that the harness
runs end to end and that its numbers are sane — not the targets (the full benchmark is not
part of CI; see bench/README.md).

The peer (Quix Streams) runs in its own virtual environment under ~/.cache/infusion-validator/,
created on first use from PyPI (about a minute), like the Kafka jars.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.cli import main

CLAIMS = 3000


def test_bench_smoke(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    code = main(
        [
            "--bootstrap", kafka_bootstrap, "--claims", str(CLAIMS), "--repeat", "1",
            "--partitions", "3", "--skip", "profile", "--rss-claims", str(2 * CLAIMS),
            "--latency-seconds", "3", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    results = report["results"]
    assert (out / "table.txt").read_text().count("claims/s") >= 1

    # Every consumer under test decided (or copied) each input record exactly once.
    for name in ("validator", "validator-alos", "validator-2p", "passthrough", "peer"):
        run = results[name]["runs"][0]
        assert run["ok"], f"{name}: {run['outputs']}"
        assert sum(n for t, n in run["outputs"].items() if t != "dlq") == CLAIMS
        assert 100 < run["rate"] < 5_000_000, f"{name}: {run['rate']} claims/s"
        assert 0 < run["peak_rss_mb"] < 2000, name
    assert results["validator"]["runs"][0]["outputs"]["dlq"] == 0

    for name in ("kafka-perf-consumer", "kafka-perf-producer", "offline"):
        assert 100 < results[name]["median"] < 50_000_000, f"{name}: {results[name]}"

    latency = results["latency"]
    assert latency["count"] > 0
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"] < 60_000
    assert math.isclose(latency["rate"], results["validator"]["median"] / 2)

    memory = results["rss"]
    assert memory["claims"] == 2 * CLAIMS
    assert memory["ok"]
    assert 20 < memory["peak_rss_mb"] < 2000

    names = {t["name"] for t in report["targets"]}
    assert names == {
        "validator throughput", "validator / passthrough", "validator / peer",
        "decision latency at half load", "memory", "offline validate",
    }  # fmt: skip
    assert all(isinstance(t["passed"], bool) for t in report["targets"])
