"""The benchmark's throughput table, from the results of one run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["rate"] for r in runs]
    out: dict[str, Any] = {
        "median": round(median(rates), 1),
        "min": round(min(rates), 1),
        "max": round(max(rates), 1),
        "runs": list(runs),
    }
    for key in ("cpu_cores", "broker_cores", "claims_per_cpu_second", "peak_rss_mb"):
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key] = round(median(values), 3 if key.endswith("_cores") else 1)
    if any("ok" in r for r in runs):
        out["ok"] = all(r.get("ok", True) for r in runs)
    if any(r.get("approximate") for r in runs):
        out["approximate"] = True
    for flag in ("history_requested", "history_active", "shadow_requested", "shadow_active"):
        if any(flag in r for r in runs):
            out[flag] = all(r.get(flag) for r in runs)
    return out


def paired_ratio(results: dict[str, Any], a: str, b: str) -> float | None:
    """Median over repeats of a_i / b_i (each pair measured in the same round), or None."""
    if a not in results or b not in results:
        return None
    pairs = zip(results[a]["runs"], results[b]["runs"], strict=False)
    ratios = [x["rate"] / y["rate"] for x, y in pairs if y["rate"] > 0]
    return median(ratios) if ratios else None


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return f"{value:,.0f}{unit}"


def notes(r: dict[str, Any]) -> str:
    out = []
    if r.get("approximate"):
        out.append("~ start-up included: too few claims")
    if r.get("history_requested") and r.get("history_active") is False:
        out.append("history asked for, not at work in this build")
    if r.get("shadow_requested") and r.get("shadow_active") is False:
        out.append("shadow asked for, not at work in this build")
    return "; ".join(out)


def table(results: dict[str, Any], labels: Sequence[tuple[str, str]]) -> str:
    head = (
        f"{'':46} {'claims/s':>10} {'min-max':>17} {'CPU':>5} {'broker':>6} {'per CPU-s':>10} "
        f"{'RSS MB':>7} ok"
    )
    lines = [head, "-" * len(head)]
    for key, label in labels:
        r = results.get(key)
        if r is None:
            continue
        spread = f"{r['min']:,.0f}-{r['max']:,.0f}"
        cpu = f"{r['cpu_cores']:.2f}" if "cpu_cores" in r else ""
        # The broker's cores over the app's window (empty for an external broker).
        broker = f"{r['broker_cores']:.2f}" if "broker_cores" in r else ""
        per_cpu = fmt(r.get("claims_per_cpu_second")) if "claims_per_cpu_second" in r else ""
        rss = fmt(r.get("peak_rss_mb")) if "peak_rss_mb" in r else ""
        ok = {True: "yes", False: "NO"}.get(r.get("ok"), "")  # type: ignore[arg-type]
        note = notes(r)
        lines.append(
            f"{label:46} {r['median']:>10,.0f} {spread:>17} {cpu:>5} {broker:>6} {per_cpu:>10} "
            f"{rss:>7} {ok:3}" + (f" {note}" if note else "")
        )
    return "\n".join(lines).rstrip()


def by_lines(results: dict[str, Any], lines: Sequence[int], headline: int) -> str:
    """Validator and passthrough by claim size: claims/s and claims per CPU-second."""
    head = (
        f"{'lines':>5} {'validator/s':>12} {'per CPU-s':>10} {'passthrough/s':>14} "
        f"{'per CPU-s':>10} {'V/P':>5}"
    )
    out = [head, "-" * len(head)]
    for n in sorted(set(lines) | {headline}):
        suffix = "" if n == headline else f".l{n}"
        v, p = results.get(f"validator{suffix}"), results.get(f"passthrough{suffix}")
        if v is None and p is None:
            continue
        ratio = paired_ratio(results, f"validator{suffix}", f"passthrough{suffix}")
        out.append(
            f"{n:>5} {fmt(v and v['median']):>12} {fmt(v and v.get('claims_per_cpu_second')):>10} "
            f"{fmt(p and p['median']):>14} {fmt(p and p.get('claims_per_cpu_second')):>10} "
            f"{'—' if ratio is None else f'{ratio:.2f}':>5}"
        )
    return "\n".join(out)


def _stops(row: dict[str, Any]) -> str:
    """The broker's stops of 20 ms or more and the longest: `3 / 61` (— when not measured)."""
    count, longest = row.get("broker_long_stops", math.nan), row.get("broker_stop_max_ms", math.nan)
    if math.isnan(count) or math.isnan(longest):
        return "—"
    return f"{count:,.0f} / {longest:,.0f}"


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.1f}%"


def latency_table(rows: Sequence[dict[str, Any]]) -> str:
    """Latency against rate: validator and passthrough at each rate, same run; medians over
    the rounds, p99's range, and how far behind the input the app was when it stopped."""
    head = (
        f"{'rate/s':>8} {'app':12} {'p50':>7} {'p90':>7} {'p99':>7} {'p99 min-max':>15} "
        f"{'p99.9':>7} {'max':>7} {'into Kafka p50/p99':>18} {'cores':>5} {'machine':>7} "
        f"{'behind s':>8} {'broker stops':>12} {'in stop':>7} {'rounds':>6}"
    )
    out = [head + "   (ms)", "-" * len(head)]
    for r in sorted(rows, key=lambda r: (r["rate"], r["app"] != "validator")):
        spread = f"{r['p99_min_ms']:,.0f}-{r['p99_max_ms']:,.0f}"
        into = f"{r['input_p50_ms']:,.0f}/{r['input_p99_ms']:,.0f}"
        out.append(
            f"{r['rate']:>8,.0f} {r['app']:12} {r['p50_ms']:>7,.1f} {r['p90_ms']:>7,.1f} "
            f"{r['p99_ms']:>7,.1f} {spread:>15} {r['p999_ms']:>7,.1f} {r['max_ms']:>7,.1f} "
            f"{into:>18} {r['cpu_cores']:>5.2f} {r.get('machine_cores', math.nan):>7.2f} "
            f"{r['behind_s']:>8.1f} {_stops(r):>12} {_pct(r.get('claims_in_stop_pct')):>7} "
            f"{r['rounds']:>6}"
        )
    return "\n".join(out)


def cycle_table(rows: Sequence[dict[str, Any]]) -> str:
    """The validator's loop at each latency rate: batches a second, claims a batch, and where
    a batch's cycle went (its /metrics over the paced run; medians of the rounds). Below full
    load a decision waits one to two cycles."""
    head = (
        f"{'rate/s':>8} {'batches/s':>9} {'claims/batch':>12} {'consume':>8} {'decide':>7} "
        f"{'commit wait':>11} {'cycle':>6}"
    )
    out = [head + "   (ms per batch)", "-" * len(head)]
    for r in sorted(rows, key=lambda r: r["rate"]):
        if r["app"] != "validator" or math.isnan(r.get("decide_ms", math.nan)):
            continue
        cycle = 1000 / r["batches_per_s"] if r["batches_per_s"] else math.nan
        out.append(
            f"{r['rate']:>8,.0f} {r['batches_per_s']:>9,.1f} {r['batch_claims']:>12,.0f} "
            f"{r['consume_ms']:>8,.1f} {r['decide_ms']:>7,.1f} {r['commit_wait_ms']:>11,.1f} "
            f"{cycle:>6,.1f}"
        )
    return "\n".join(out) if len(out) > 2 else ""
