"""`python -m bench` (`make bench`): SPEC §9 in one run on one local broker and one pre-produced
topic of sample claims; prints the table and the targets and writes everything as JSON.

Each measurement is repeated (`--repeat`) in an interleaved order — validator, passthrough,
peer, … then again — so a neighbour's load on this shared machine hits all of them alike; the
table shows medians and the ratios are medians of back-to-back pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka

from bench import report
from bench.apps import REPO, Profiler, Workload, env_overrides, run_app, with_settings
from bench.cluster import Cluster, produce_sample, read_values
from bench.kafkaperf import consumer_perf, producer_perf
from bench.latency import measure_latency
from bench.memory import measure_memory
from bench.offline import run_validate, write_claims
from bench.peer_env import peer_python, peer_versions
from bench.profiling import summarise
from consumer.local.kafka import LocalKafka, pinned_version

REPEATED = (
    "validator", "baseline", "passthrough", "peer", "validator-alos", "validator-2p",
    "kafka-perf", "offline",
)  # fmt: skip
ONCE = ("latency", "rss", "profile")
ALL = REPEATED + ONCE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--claims", type=int, default=300_000, help="claims in the input topic")
    p.add_argument("--lines", type=int, default=5, help="service lines per claim")
    p.add_argument("--partitions", type=int, default=6, help="partitions of every topic")
    p.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median)")
    p.add_argument("--only", help=f"comma-separated subset of: {','.join(ALL)}")
    p.add_argument("--skip", help="comma-separated measurements to leave out")
    p.add_argument("--rss-claims", type=int, default=1_000_000, help="claims in the RSS run")
    p.add_argument("--latency-seconds", type=float, default=20.0, help="paced run length")
    p.add_argument("--latency-rate", type=float, help="input rate (default: half the validator's)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--bootstrap", help="use this broker instead of starting a local one")
    p.add_argument("--broker-heap", default="1g", help="heap of the local broker")
    p.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="INFUSION_VALIDATOR_* setting for the validator processes (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--kafka-property", action="append", default=[], metavar="KEY=VALUE",
        help="librdkafka property for validator and passthrough (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--baseline-repo", type=Path, metavar="DIR",
        help="also measure the validator of this checkout (e.g. a git worktree of main), "
        "interleaved with ours: the before/after of a change",
    )  # fmt: skip
    p.add_argument(
        "--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="also measure the validator with these settings (INFUSION_VALIDATOR_* or "
        "librdkafka), interleaved with the default: for choosing settings (repeatable)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, help="results directory (default: bench/results/<time>)")
    return p.parse_args(argv)


def _selected(args: argparse.Namespace) -> list[str]:
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(ALL)
    if not args.only and args.baseline_repo is None:
        chosen.remove("baseline")
    if "baseline" in chosen and args.baseline_repo is None:
        raise SystemExit("baseline needs --baseline-repo DIR")
    skipped = {s.strip() for s in (args.skip or "").split(",") if s.strip()}
    unknown = (set(chosen) | skipped) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    if "profile" in chosen and not Profiler.available():
        print("py-spy not found: skipping the profile (pip install py-spy)", file=sys.stderr)
        skipped.add("profile")
    return [s for s in ALL if s in chosen and s not in skipped]


@contextlib.contextmanager
def _broker(args: argparse.Namespace) -> Iterator[str]:
    if args.bootstrap:
        yield args.bootstrap
        return
    with LocalKafka(heap=args.broker_heap) as kafka:
        yield kafka.bootstrap_servers


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _kafka_properties(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env_overrides(pairs).items():
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def _variants(specs: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for spec in specs:
        name, sep, rest = spec.partition(":")
        if not sep or not name:
            raise SystemExit(f"--variant {spec!r}: expected NAME:KEY=VALUE[,KEY=VALUE]")
        out[name] = dict(env_overrides(rest.split(",")))
    return out


def _variant_step(w: Workload, settings: dict[str, str]) -> Callable[[], dict[str, Any]]:
    return lambda: run_app(with_settings(w, settings), "validator").as_dict()


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


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    selected = _selected(args)
    variants = _variants(args.variant)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or REPO / "bench" / "results" / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    raw: dict[str, list[dict[str, Any]]] = {}
    meta: dict[str, Any] = {
        "started": stamp, "claims": args.claims, "lines_per_claim": args.lines,
        "partitions": args.partitions, "repeat": args.repeat, "measurements": selected,
        "python": platform.python_version(), "cpus": __import__("os").cpu_count(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0], "kafka": pinned_version(),
        "validator_env": args.env, "kafka_properties": args.kafka_property,
    }  # fmt: skip
    began = time.monotonic()
    with _broker(args) as bootstrap:
        cluster = Cluster(bootstrap)
        input_topic = f"bench.input-{uuid.uuid4().hex[:6]}"
        cluster.create({input_topic: args.partitions})
        _say(f"producing {args.claims:,} claims ({args.lines} lines) to {input_topic} ...")
        t0 = time.monotonic()
        produce_sample(bootstrap, input_topic, args.claims, args.seed, args.lines)
        sample = read_values(bootstrap, input_topic, 2000)
        meta["mean_value_bytes"] = round(sum(len(v) for _, v in sample) / len(sample), 1)
        _say(f"  done in {time.monotonic() - t0:.0f}s, mean value {meta['mean_value_bytes']} B")
        w = Workload(
            bootstrap, cluster, input_topic, args.claims, args.partitions, out_dir,
            validator_env=dict(env_overrides(args.env)),
            kafka_properties=_kafka_properties(args.kafka_property),
            baseline_repo=args.baseline_repo,
        )  # fmt: skip
        if "peer" in selected:
            w.peer_python = peer_python(out_dir / "peer-venv.log")
            meta["peer"] = peer_versions(w.peer_python)
        claims_file = None
        if "offline" in selected:
            claims_file = write_claims(out_dir / "claims.jsonl", args.claims, args.seed, args.lines)

        def app(kind: str, **kw: Any) -> Callable[[], dict[str, Any]]:
            return lambda: run_app(w, kind, **kw).as_dict()

        def perf_consumer() -> dict[str, Any]:
            return consumer_perf(bootstrap, input_topic, args.claims, out_dir).as_dict()

        def perf_producer() -> dict[str, Any]:
            size = int(meta["mean_value_bytes"])
            return producer_perf(cluster, args.claims, size, args.partitions, out_dir).as_dict()

        def offline() -> dict[str, Any]:
            assert claims_file is not None
            return run_validate(claims_file).as_dict()

        steps: dict[str, list[tuple[str, Callable[[], dict[str, Any]]]]] = {
            "validator": [("validator", app("validator"))],
            "baseline": [("baseline", app("baseline"))],
            "validator-variants": [
                (f"validator[{name}]", _variant_step(w, settings))
                for name, settings in variants.items()
            ],
            "passthrough": [("passthrough", app("passthrough"))],
            "peer": [("peer", app("peer"))],
            "validator-alos": [("validator-alos", app("validator", guarantee="at_least_once"))],
            "validator-2p": [("validator-2p", app("validator", processes=2))],
            "kafka-perf": [
                ("kafka-perf-consumer", perf_consumer),
                ("kafka-perf-producer", perf_producer),
            ],
            "offline": [("offline", offline)],
        }
        order = [s for s in REPEATED if s in selected]
        if variants and "validator" in order:
            order.insert(order.index("validator") + 1, "validator-variants")
        for r in range(args.repeat if order else 0):  # e.g. `--only latency` repeats nothing
            # Rotated each round, so no measurement always runs first (a position effect,
            # e.g. the broker still deleting the previous round's topics, would bias it).
            flat = [item for name in order for item in steps[name]]
            shift = r % len(flat)
            for key, step in flat[shift:] + flat[:shift]:
                res = step()
                raw.setdefault(key, []).append(res)
                cpu = f", {res['cpu_cores']:.2f} cores" if "cpu_cores" in res else ""
                ok = "" if res.get("ok", True) else "  OUTPUT COUNT WRONG"
                _say(f"[{r + 1}/{args.repeat}] {key}: {res['rate']:,.0f}/s{cpu}{ok}")
        results.update({key: report.summarise_runs(runs) for key, runs in raw.items()})

        if "latency" in selected:
            rate = args.latency_rate
            if rate is None:
                if "validator" not in results:
                    one = run_app(w, "validator").as_dict()
                    results["validator"] = report.summarise_runs([one])
                rate = results["validator"]["median"] / 2
            _say(f"latency at {rate:,.0f} claims/s for {args.latency_seconds:.0f}s ...")
            lat = results["latency"] = measure_latency(w, rate, args.latency_seconds).as_dict()
            _say(f"  p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms")
            # The same paced input through passthrough: what one transaction per batch costs
            # on this broker whatever the work (the floor the validator's latency sits on).
            floor = measure_latency(w, rate, args.latency_seconds, "passthrough").as_dict()
            results["latency-passthrough"] = floor
            _say(f"  passthrough: p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms")
        if "rss" in selected:
            _say(f"RSS over {args.rss_claims:,} claims ...")
            mem = results["rss"] = measure_memory(w, args.rss_claims).as_dict()
            _say(f"  peak {mem['peak_rss_mb']:.0f} MB, growth {mem['growth_mb']:+.1f} MB")
        if "profile" in selected:
            _say("profiling one validator run with py-spy ...")
            raw_profile = out_dir / "validator-profile.txt"
            run_app(w, "validator", profiler=Profiler(raw_profile))
            results["profile"] = summarise(raw_profile).as_dict()
        cluster.delete([input_topic])

    meta["variants"] = args.variant
    meta["seconds"] = round(time.monotonic() - began, 1)
    found = report.targets(results)
    text = _render(meta, results, found)
    print(text)
    (out_dir / "results.json").write_text(
        json.dumps({"meta": meta, "results": results, "targets": [t.as_dict() for t in found]},
                   indent=2, default=str),
        "utf-8",
    )  # fmt: skip
    (out_dir / "table.txt").write_text(text + "\n", "utf-8")
    _say(f"written: {out_dir / 'results.json'}, {out_dir / 'table.txt'}")
    return 0


def _render(meta: dict[str, Any], results: dict[str, Any], found: list[report.Target]) -> str:
    lines = [
        f"infusion-validator benchmark {meta['started']}: {meta['claims']:,} claims x "
        f"{meta['lines_per_claim']} lines ({meta.get('mean_value_bytes', '?')} B), "
        f"{meta['partitions']} partitions, median of {meta['repeat']} "
        f"| {meta['cpus']} CPUs, Python {meta['python']}, confluent-kafka "
        f"{meta['confluent_kafka']} (librdkafka {meta['librdkafka']}), Kafka {meta['kafka']}"
        + (
            f", peer: quixstreams {meta['peer']['quixstreams']} (librdkafka "
            f"{meta['peer']['librdkafka']})"
            if "peer" in meta
            else ""
        ),
        "",
        report.table(results),
        "",
    ]
    for key in (k for k in results if k.startswith("validator[")):
        ratio = report.paired_ratio(results, key, "validator")
        lines.append(f"{key} / validator: {ratio:.2f}")
    if "validator" in results and "validator-2p" in results:
        scale = results["validator-2p"]["median"] / results["validator"]["median"]
        lines.append(f"2 processes / 1 process: {scale:.2f}")
    pairs = (
        ("validator", "passthrough"), ("validator", "peer"), ("validator-alos", "validator"),
        ("validator", "kafka-perf-consumer"), ("validator", "baseline"),
    )  # fmt: skip
    for a, b in pairs:
        ratio = report.paired_ratio(results, a, b)
        if ratio is not None:
            lines.append(f"{a} / {b}: {ratio:.2f}")
    if "latency" in results:
        lat = results["latency"]
        lines.append(
            f"latency at {lat['rate']:,.0f} claims/s: p50 {lat['p50_ms']:.1f} ms, "
            f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms ({lat['count']:,} claims)"
        )
    if "latency-passthrough" in results:
        lat = results["latency-passthrough"]
        lines.append(
            f"  passthrough at the same rate: p50 {lat['p50_ms']:.1f} ms, "
            f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms"
        )
    if "rss" in results:
        mem = results["rss"]
        steps = ", ".join(f"{k} {v:.0f}" for k, v in mem["rss_at_mb"].items())
        lines.append(f"RSS over {mem['claims']:,} claims (MB at progress): {steps}; "
                     f"peak {mem['peak_rss_mb']:.0f} MB")  # fmt: skip
    if "profile" in results:
        prof = results["profile"]
        lines += ["", f"validator profile ({prof['samples']:,} samples in the Kafka loop):"]
        lines += [f"  {pct:5.1f}%  {area}" for area, pct in prof["areas_percent"].items()]
        lines.append("top functions by self time (self %, total %):")
        lines += [
            f"  {f['self_percent']:5.1f}% {f['total_percent']:5.1f}%  {f['function']}"
            for f in prof["top_self"][:15]
        ]
    lines += ["", report.targets_table(found), f"\n({meta['seconds']:.0f}s)"]
    return "\n".join(lines)
