"""The benchmark's table and its targets (SPEC §9), from the results of one run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ROWS = (
    ("validator", "validator, exactly-once, 1 process"),
    ("baseline", "baseline validator (--baseline-repo), exactly-once"),
    ("validator-alos", "validator, at-least-once, 1 process"),
    ("validator-2p", "validator, exactly-once, 2 processes"),
    ("passthrough", "passthrough, exactly-once (Python ceiling)"),
    ("peer", "peer: Quix Streams, exactly-once"),
    ("kafka-perf-consumer", "kafka-consumer-perf-test (broker ceiling)"),
    ("kafka-perf-producer", "kafka-producer-perf-test, acks=all"),
    ("offline", "offline `validate` (JSON Lines file)"),
)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not measured in this run
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summarise_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["rate"] for r in runs]
    out: dict[str, Any] = {
        "median": round(median(rates), 1),
        "min": round(min(rates), 1),
        "max": round(max(rates), 1),
        "runs": list(runs),
    }
    for key in ("cpu_cores", "claims_per_cpu_second", "peak_rss_mb"):
        values = [r[key] for r in runs if key in r]
        if values:
            out[key] = round(median(values), 3 if key == "cpu_cores" else 1)
    if any("ok" in r for r in runs):
        out["ok"] = all(r.get("ok", True) for r in runs)
    if any(r.get("approximate") for r in runs):
        out["approximate"] = True
    return out


def paired_ratio(results: dict[str, Any], a: str, b: str) -> float | None:
    """Median over repeats of a_i / b_i (each pair measured back to back), or None."""
    if a not in results or b not in results:
        return None
    pairs = zip(results[a]["runs"], results[b]["runs"], strict=False)
    ratios = [x["rate"] / y["rate"] for x, y in pairs if y["rate"] > 0]
    return median(ratios) if ratios else None


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return f"{value:,.0f}{unit}"


def table(results: dict[str, Any]) -> str:
    head = f"{'':46} {'claims/s':>10} {'min-max':>17} {'CPU':>5} {'per CPU-s':>10} {'RSS MB':>7} ok"
    lines = [head, "-" * len(head)]
    rows = list(ROWS)
    rows[1:1] = [
        (k, f"  variant {k[len('validator') :]}") for k in results if k.startswith("validator[")
    ]
    for key, label in rows:
        r = results.get(key)
        if r is None:
            continue
        spread = f"{r['min']:,.0f}-{r['max']:,.0f}"
        cpu = f"{r['cpu_cores']:.2f}" if "cpu_cores" in r else ""
        per_cpu = _fmt(r.get("claims_per_cpu_second"))
        rss = _fmt(r.get("peak_rss_mb")) if "peak_rss_mb" in r else ""
        ok = {True: "yes", False: "NO"}.get(r.get("ok"), "")  # type: ignore[arg-type]
        approx = "  ~ start-up included: too few claims" if r.get("approximate") else ""
        lines.append(
            f"{label:46} {r['median']:>10,.0f} {spread:>17} {cpu:>5} "
            f"{per_cpu if cpu else '':>10} {rss:>7} {ok}{approx}"
        )
    return "\n".join(lines)


def targets(results: dict[str, Any], rss_goal_claims: int = 2_000_000) -> list[Target]:
    out = []
    v = results.get("validator")
    if v:
        per_core = v.get("claims_per_cpu_second", v["median"])
        out.append(Target(
            "validator throughput", "≥ 25,000 claims/s per core, exactly-once",
            f"{v['median']:,.0f} claims/s on {v.get('cpu_cores', 0):.2f} cores = "
            f"{per_core:,.0f} per core", per_core >= 25_000,
        ))  # fmt: skip
    ratio = paired_ratio(results, "validator", "passthrough")
    if ratio is not None:
        out.append(Target("validator / passthrough", "≥ 60 %", f"{ratio:.0%}", ratio >= 0.60))
    ratio = paired_ratio(results, "validator", "peer")
    if ratio is not None:
        out.append(Target("validator / peer", "≥ 2.0 x", f"{ratio:.2f} x", ratio >= 2.0))
    lat = results.get("latency")
    if lat:
        out.append(Target(
            "decision latency at half load", "p99 ≤ 50 ms",
            f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms at "
            f"{lat['rate']:,.0f} claims/s", lat["p99_ms"] <= 50,
        ))  # fmt: skip
    mem = results.get("rss")
    if mem:
        short = mem["claims"] < rss_goal_claims
        note = f"run with --rss-claims {rss_goal_claims}" if short else ""
        out.append(Target(
            "memory", f"flat, ≤ 300 MB over {rss_goal_claims:,} claims",
            f"peak {mem['peak_rss_mb']:.0f} MB, {mem['growth_mb']:+.0f} MB from 25 % to the end "
            f"of {mem['claims']:,} claims", mem["flat"] and mem["peak_rss_mb"] <= 300, note,
        ))  # fmt: skip
    off = results.get("offline")
    if off:
        out.append(Target(
            "offline validate", "≥ 50,000 claims/s per core",
            f"{off['median']:,.0f} claims/s (one thread)", off["median"] >= 50_000,
        ))  # fmt: skip
    return out


def targets_table(items: Sequence[Target]) -> str:
    lines = [f"{'target':30} {'goal':42} {'result':6} measured", "-" * 120]
    for t in items:
        verdict = {True: "PASS", False: "MISS", None: "—"}[t.passed]
        note = f"  ({t.note})" if t.note else ""
        lines.append(f"{t.name:30} {t.goal:42} {verdict:6} {t.measured}{note}")
    return "\n".join(lines)
