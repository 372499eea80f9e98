"""The benchmark's text output (`table.txt`): the run's setting, every table, the targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import report
from bench.targets import Target, targets_table

# (a, b): a / b is printed when both ran; the first two and the stateful one are SPEC targets.
RATIOS = (
    ("validator", "passthrough"), ("validator", "peer"), ("validator", "validator-stateless"),
    ("validator-shadow", "validator"), ("validator-alos", "validator"),
    ("validator-2p", "validator"), ("validator", "kafka-perf-consumer"), ("validator", "baseline"),
    ("passthrough-changelog", "passthrough"),
)  # fmt: skip


def _header(meta: dict[str, Any]) -> str:
    peer = meta.get("peer") or {}
    against = f", peer: quixstreams {peer.get('quixstreams')} (librdkafka {peer.get('librdkafka')})"
    return (
        f"infusion-validator benchmark {meta['started']}: {meta['claims']:,} claims x "
        f"{meta['headline_lines']} lines ({meta.get('mean_value_bytes', '?')} B), "
        f"{meta['partitions']} partitions, median of {meta['repeat']} "
        f"| {meta['cpus']} CPUs, load average at start {meta['load_start']}, "
        f"Python {meta['python']}, confluent-kafka {meta['confluent_kafka']} "
        f"(librdkafka {meta['librdkafka']}), Kafka {meta['kafka']} "
        f"(JVM: {meta.get('broker_jvm', 'G1')})" + (against if peer else "")
    )


def _ratios(results: dict[str, Any]) -> list[str]:
    """Each ratio as the median of its rounds, the rounds' own ratios after it."""
    pairs = [(k, "validator") for k in results if k.startswith("validator[")] + list(RATIOS)
    lines = []
    for a, b in pairs:
        ratio = report.paired_ratio(results, a, b)
        if ratio is None:
            continue
        rounds = zip(results[a]["runs"], results[b]["runs"], strict=False)
        each = ", ".join(f"{x['rate'] / y['rate']:.2f}" for x, y in rounds if y["rate"] > 0)
        lines.append(f"{a} / {b}: {ratio:.2f}" + (f" (rounds: {each})" if "," in each else ""))
    return lines


def _history(h: dict[str, Any]) -> list[str]:
    made, r, v = h["changelog"], h["restore"], h.get("validator") or {}
    out = [
        f"history: changelog of {h['members']:,} members x {h['claims_per_member']} claims "
        f"({made['records']:,} records, {made['bytes'] / made['records']:.0f} B each, "
        f"made in {made['seconds']:.0f}s)",
        f"  restore in a fresh process: {r['records']:,} records in {r['seconds']:.2f}s = "
        f"{r['rate']:,.0f}/s ({r['per_cpu_second']:,.0f} per CPU-second), "
        f"{r['members']:,} members; RSS {r['rss_before_mb']:.0f} MB with the rule sets, "
        f"peak {r['peak_rss_mb']:.0f} MB with the history",
        "  seconds per partition: "
        + ", ".join(f"{p} {t:.2f}" for p, t in r["partition_seconds"].items()),
    ]
    if v:
        restored = v.get("metrics", {}).get("history_restore_records", 0)
        out.append(
            f"  validator with this changelog: {v['rate']:,.0f} claims/s, peak RSS "
            f"{v['peak_rss_mb']:.0f} MB, {restored:,.0f} changelog records restored"
            + ("" if v.get("history_active") else " (this build keeps no history in its loop)")
        )
    return out


def _extras(results: dict[str, Any]) -> list[str]:
    out = []
    off = results.get("offline")
    if off:
        run = off["runs"][0]
        out.append(
            f"offline validate: {off['median']:,.0f} claims/s, "
            f"{off['claims_per_cpu_second']:,.0f} per CPU-second (its loop; whole process "
            f"{run['process_cpu_seconds']:.1f} CPU-s for {run['claims']:,} claims)"
        )
    diff = results.get("diff")
    if diff:
        run = diff["runs"][0]
        out.append(
            f"replay --diff: {diff['median']:,.0f} claims/s (its progress line), "
            f"{run['compared']:,} compared, {run['changed']:,} would change; whole process "
            f"{run['process_cpu_seconds']:.1f} CPU-s"
        )
    mem = results.get("rss")
    if mem:
        steps = ", ".join(f"{k} {v:.0f}" for k, v in mem["rss_at_mb"].items())
        out.append(f"RSS over {mem['claims']:,} claims, history off (MB at progress): {steps}; "
                   f"peak {mem['peak_rss_mb']:.0f} MB")  # fmt: skip
    if "history" in results:
        out += _history(results["history"])
    return out


def _profile(prof: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"validator profile, {prof.get('lines', 5)}-line claims ({prof['samples']:,} samples "
        "in the Kafka loop; compiled work shows as its Python caller):",
    ]
    lines += [f"  {pct:5.1f}%  {area}" for area, pct in prof["areas_percent"].items()]
    lines.append("top functions by self time (self %, total %):")
    lines += [
        f"  {f['self_percent']:5.1f}% {f['total_percent']:5.1f}%  {f['function']}"
        for f in prof["top_self"][:15]
    ]
    return lines


def render(
    meta: dict[str, Any],
    results: dict[str, Any],
    labels: Sequence[tuple[str, str]],
    found: list[Target],
) -> str:
    lines = [_header(meta), "", report.table(results, labels), "", *_ratios(results)]
    lines += ["", "by claim size (exactly-once):"]
    lines.append(report.by_lines(results, meta["lines"], meta["headline_lines"]))
    if "latency" in results:
        lat = results["latency"]
        lines += ["", f"latency against input rate ({lat['seconds']:.0f}s paced per run, "
                      "pacer and reader in processes of their own; medians of the rounds; "
                      "'into Kafka': CreateTime to the pacer's delivery report, the input's "
                      "share of every app's latency; 'machine': every process's CPU over the "
                      "run, in cores of the machine's "
                      f"{meta['cpus']}; 'behind': seconds from the last paced claim "
                      "to the last commit; 'broker stops': the local broker JVM's stops of "
                      "20 ms or more and its longest stop, ms; 'in stop': the claims whose way "
                      "from CreateTime to arrival spans one of those stops):"]  # fmt: skip
        lines.append(report.latency_table(lat["summary"]))
        cycle = report.cycle_table(lat["summary"])
        if cycle:
            lines += ["", "the validator's loop at those rates (its /metrics over the paced run, "
                          "medians of the rounds; consume includes the batch window, "
                          "processing.batch_timeout_ms; a decision waits one to two cycles):",
                      cycle]  # fmt: skip
    lines += ["", *_extras(results)]
    for key in sorted(k for k in results if k.startswith("profile")):
        lines += _profile(results[key])
    lines += ["", targets_table(found)]
    lines.append(f"\n({meta['seconds']:.0f}s; load average at the end {meta['load_end']})")
    return "\n".join(lines)
