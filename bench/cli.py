"""`python -m bench` (`make bench`): SPEC §9 in one run on one local broker and pre-produced
topics of sample claims; prints the tables and the targets and writes everything as JSON, plus
a picture of the results.

Each repeated row (`bench.rows`) runs once per round, in an order rotated from round to round,
so a neighbour's load on this shared machine hits all of them alike; the table shows medians
and the ratios are medians of same-round pairs. Then the once-only measurements (`bench.once`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import confluent_kafka

from bench import once, plot, report
from bench.apps import REPO, Workload, env_overrides, kafka_properties, variants
from bench.cluster import Cluster, read_values
from bench.inputs import history_retention_days, produce_input
from bench.offline import diff_rule_set, write_claims
from bench.peer_env import peer_python, peer_versions
from bench.profiling import Profiler
from bench.render import render
from bench.rows import ALL, HEADLINE_LINES, ONCE, Context, Row, build_rows
from bench.targets import targets
from consumer.local.kafka import LocalKafka
from consumer.local.kafka_jars import PERFORMANCE_FLAGS, SAFEPOINT_LOG, pinned_version

# The local broker's JVM flags by collector: kafka-run-class.sh's G1 defaults, or ZGC (Java
# 15+), which stops the broker for well under a millisecond. Latency runs under G1 saw the
# broker's pauses reach 130-183 ms and 2-10 % of claims wait through a stop of 20 ms or
# more; under ZGC none (bench/README.md, "Tuning experiments").
BROKER_GC = {
    "g1": " ".join(PERFORMANCE_FLAGS),
    "zgc": "-XX:+UseZGC -XX:MaxInlineLevel=15",
}
# --quick: the harness end to end in about a minute or two (the smoke test), not the figures.
QUICK: dict[str, Any] = {
    "claims": 3000, "repeat": 1, "rss_claims": 6000, "latency_seconds": 3.0,
    "latency_rates": [2000.0], "latency_repeat": 1, "history_members": 5000, "lines": [5, 50],
    "warm_up": 0.0,
}  # fmt: skip


def _numbers(kind: type, text: str) -> list[Any]:
    return [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add = p.add_argument
    add("--quick", action="store_true", help="small counts, one round, no profile (CI smoke)")
    add("--claims", type=int, default=300_000, help="claims in the 5-line input topic")
    add(
        "--lines",
        type=lambda s: _numbers(int, s),
        default=[1, 5, 20, 50],
        help="claim sizes in lines, comma-separated (5 is the headline input)",
    )
    add("--partitions", type=int, default=6, help="partitions of every topic")
    add("--repeat", type=int, default=3, help="rounds of the repeated rows (median)")
    add("--warm-up", type=float, default=90.0, help="seconds of unmeasured runs first")
    add("--only", help=f"comma-separated subset of: {','.join(ALL)}")
    add("--skip", help="comma-separated measurements to leave out")
    add("--latency-repeat", type=int, default=2, help="rounds of each latency run (median)")
    add("--rss-claims", type=int, default=2_000_000, help="claims in the RSS run")
    add("--latency-seconds", type=float, default=20.0, help="paced seconds per latency run")
    add(
        "--latency-rates",
        type=lambda s: _numbers(float, s),
        help="input rates, comma-separated (default: 2000, 10000 and half the validator's max)",
    )
    add("--history-members", type=int, default=1_000_000, help="members in the changelog")
    add("--history-claims-per-member", type=int, default=2)
    add("--seed", type=int, default=2026)
    add("--bootstrap", help="use this broker instead of starting a local one")
    add(
        "--broker-stops", type=Path,
        help="with --bootstrap: that broker's safepoint log, if it is a `consumer.local.kafka` one "
        "(its work dir's safepoint.log), to set its stops beside the latencies",
    )  # fmt: skip
    add("--broker-heap", default="1g", help="heap of the local broker")
    add(
        "--broker-gc", choices=sorted(BROKER_GC), default="zgc",
        help="the local broker's collector (default zgc: G1's young pauses set every app's "
        "latency tail here; see bench/README.md). $KAFKA_JVM_PERFORMANCE_OPTS wins over both",
    )  # fmt: skip
    add(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="INFUSION_VALIDATOR_* setting for every validator process (repeatable)",
    )
    add(
        "--kafka-property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="librdkafka property for validator and passthrough (repeatable)",
    )
    add(
        "--baseline-repo",
        type=Path,
        metavar="DIR",
        help="also measure the validator of this checkout, interleaved with ours",
    )
    add(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="also measure the validator with these settings (INFUSION_VALIDATOR_* or "
        "librdkafka), interleaved with the default (repeatable)",
    )
    add("--out", type=Path, help="results directory (default: bench/results/<time>)")
    add(
        "--render",
        type=Path,
        metavar="DIR",
        help="only redraw DIR's table.txt, targets and results.png from its results.json",
    )
    args = p.parse_args(argv)  # fmt: skip
    if args.quick:
        given = {a.lstrip("-").split("=")[0].replace("-", "_") for a in argv or sys.argv[1:]}
        for key, value in QUICK.items():
            if key not in given:
                setattr(args, key, value)
    return args


def _selected(args: argparse.Namespace) -> list[str]:
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(ALL)
    if not args.only and args.baseline_repo is None:
        chosen.remove("baseline")
    if "baseline" in chosen and args.baseline_repo is None:
        raise SystemExit("baseline needs --baseline-repo DIR")
    skipped = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    if args.quick and not args.only:
        skipped.add("profile")
    unknown = (set(chosen) | skipped) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    if "profile" in chosen and "profile" not in skipped and not Profiler.available():
        print("py-spy not found: skipping the profile (pip install py-spy)", file=sys.stderr)
        skipped.add("profile")
    return [s for s in ALL if s in chosen and s not in skipped]


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    pid: int | None = None  # the local broker's JVM; None: an external broker
    stops: Path | None = None  # the local broker's safepoint log


def _broker_jvm(args: argparse.Namespace) -> str:
    """The local broker's JVM flags (its heap aside)."""
    return os.environ.get("KAFKA_JVM_PERFORMANCE_OPTS") or BROKER_GC[args.broker_gc]


@contextlib.contextmanager
def _broker(args: argparse.Namespace) -> Iterator[Broker]:
    """Its bootstrap servers and, for the local broker, its pid (its CPU is measured too) and
    its safepoint log (its stops are set beside the latencies)."""
    if args.bootstrap:
        yield Broker(args.bootstrap, stops=args.broker_stops)
        return
    with (
        mock.patch.dict(os.environ, {"KAFKA_JVM_PERFORMANCE_OPTS": _broker_jvm(args)}),
        LocalKafka(heap=args.broker_heap) as kafka,
    ):
        yield Broker(kafka.bootstrap_servers, kafka.pid, kafka.work_dir / SAFEPOINT_LOG)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: apps stopped, topics deleted


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _prepare(
    args: argparse.Namespace,
    selected: list[str],
    broker: Broker,
    out: Path,
    meta: dict[str, Any],
) -> Context:
    """The input topics (5 lines, plus the other sizes if their rows run) and the context."""
    bootstrap = broker.bootstrap
    cluster = Cluster(bootstrap)
    sizes = sorted({HEADLINE_LINES, *(args.lines if "lines" in selected else [])})
    workloads = {}
    validator_env = dict(env_overrides(args.env))
    retention = history_retention_days(validator_env)
    for lines in sizes:
        # Bigger claims, fewer of them: the topic's bytes stay within a few times the headline's.
        claims = args.claims if lines <= HEADLINE_LINES else max(args.claims // 2, 1000)
        topic = f"bench.input-l{lines}-{uuid.uuid4().hex[:6]}"
        _say(f"producing {claims:,} claims ({lines} lines) to {topic} ...")
        t0 = time.monotonic()
        made = produce_input(cluster, topic, claims, args.seed, lines, args.partitions, retention)
        workloads[lines] = Workload(
            bootstrap, cluster, topic, claims, args.partitions, out,
            validator_env=dict(validator_env),
            kafka_properties=kafka_properties(args.kafka_property),
            baseline_repo=args.baseline_repo, resent=made.resent, broker_pid=broker.pid,
            broker_stops=broker.stops,
        )  # fmt: skip
        _say(f"  done in {time.monotonic() - t0:.0f}s ({made.resent:,} re-sent events)")
    headline = workloads[HEADLINE_LINES]
    sample = read_values(bootstrap, headline.input_topic, 2000)
    meta["mean_value_bytes"] = round(sum(len(v) for _, v in sample) / len(sample), 1)
    meta["inputs"] = {n: {"claims": w.total, "resent": w.resent} for n, w in workloads.items()}
    if "peer" in selected:
        python = peer_python(out / "peer-venv.log")
        meta["peer"] = peer_versions(python)
        for w in workloads.values():
            w.peer_python = python
    ctx = Context(
        workloads, out, int(meta["mean_value_bytes"]), diff_rule_set(out / "rules-candidate"),
        variants=variants(args.variant),
    )  # fmt: skip
    if "offline" in selected:
        ctx.claims_file = write_claims(out / "claims.jsonl", args.claims, args.seed, 5)
    return ctx


def _rounds(rows: list[Row], repeat: int, warm_up: float) -> dict[str, list[dict[str, Any]]]:
    raw: dict[str, list[dict[str, Any]]] = {}
    # The rows measured in the first minutes on a fresh broker ran 15-55 % slower than the
    # same rows later (two full runs; a single unmeasured run first and writing the inputs'
    # dirty pages out did not change it). Likely, not shown: the broker's JIT warming up on
    # paths that producing the inputs did not take (transactions, read_committed fetches).
    # So the consumer rows run, unmeasured, for `warm_up` seconds first; it helped in one
    # run and only partly in the next (bench/README.md, "Warm-up").
    apps = [row for row in rows if row.app]
    began, warm = time.monotonic(), 0
    while apps and time.monotonic() - began < warm_up:
        row = apps[warm % len(apps)]
        _say(f"warm-up (not counted, {time.monotonic() - began:.0f}s): {row.key} ...")
        row.run()
        warm += 1
    for r in range(repeat if rows else 0):
        # Rotated each round, so no row always runs first (a position effect, e.g. the broker
        # still deleting the previous round's topics, would bias it).
        shift = r % len(rows)
        for row in rows[shift:] + rows[:shift]:
            res = row.run()
            raw.setdefault(row.key, []).append(res)
            cpu = f", {res['cpu_cores']:.2f} cores" if res.get("cpu_cores") else ""
            if res.get("broker_cores") is not None:
                cpu += f" + broker {res['broker_cores']:.2f}"
            ok = "" if res.get("ok", True) else "  OUTPUT COUNT WRONG"
            _say(f"[{r + 1}/{repeat}] {row.key}: {res['rate']:,.0f}/s{cpu}{ok}")
    return raw


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    if args.render:
        return _report(args.render)
    selected = _selected(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or REPO / "bench" / "results" / stamp
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    meta: dict[str, Any] = {
        "started": stamp, "claims": args.claims, "headline_lines": HEADLINE_LINES,
        "lines": args.lines, "partitions": args.partitions, "repeat": args.repeat,
        "quick": args.quick, "measurements": selected, "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_start": _load(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0], "kafka": pinned_version(),
        "validator_env": args.env, "kafka_properties": args.kafka_property,
        "variants": args.variant,
        "broker_jvm": "external broker" if args.bootstrap else _broker_jvm(args),
    }  # fmt: skip
    began = time.monotonic()
    with _broker(args) as broker:
        ctx = _prepare(args, selected, broker, out_dir, meta)
        try:
            rows = build_rows(ctx, selected)
            raw = _rounds(rows, args.repeat, args.warm_up)
            results.update({key: report.summarise_runs(runs) for key, runs in raw.items()})
            for name in (n for n in ONCE if n in selected):
                once.STEPS[name](ctx, args, results)
        finally:
            ctx.w.cluster.delete(w.input_topic for w in ctx.workloads.values())
    meta["labels"] = [(row.key, row.label) for row in build_rows(ctx, list(ALL))]
    meta["seconds"] = round(time.monotonic() - began, 1)
    meta["load_end"] = _load()
    (out_dir / "results.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, default=str), "utf-8"
    )
    return _report(out_dir)


def _report(out_dir: Path) -> int:
    """table.txt, results.png and the targets from results.json (also `--render DIR`)."""
    saved = json.loads((out_dir / "results.json").read_text("utf-8"))
    meta, results = saved["meta"], saved["results"]
    labels = [(str(key), str(label)) for key, label in meta["labels"]]
    found = targets(results, cpus=meta.get("cpus"))
    text = render(meta, results, labels, found)
    print(text)
    saved["targets"] = [t.as_dict() for t in found]
    (out_dir / "results.json").write_text(json.dumps(saved, indent=2, default=str), "utf-8")
    (out_dir / "table.txt").write_text(text + "\n", "utf-8")
    picture = plot.draw(out_dir / "results.png", text.splitlines()[0], results, labels)
    if picture is None:
        _say("matplotlib not installed (pip install -e '.[dashboard]'): no results.png")
    _say(f"written: {out_dir}/results.json, table.txt" + (", results.png" if picture else ""))
    return 0
