"""The measurements that run once per benchmark, after the repeated rows: latency against
rate, RSS over a long run, claim history at scale, and the profile."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bench.apps import run_app
from bench.history import measure_history
from bench.latency import (
    APPS,
    latency_rates,
    latency_summary,
    measure_latency,
    prepare_items,
)
from bench.memory import measure_memory
from bench.profiling import Profiler, summarise
from bench.report import summarise_runs
from bench.rows import HEADLINE_LINES, Context


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def latency(ctx: Context, opts: Any, results: dict[str, Any]) -> None:
    w = ctx.w
    if "validator" not in results:  # half the max rate needs the max
        results["validator"] = summarise_runs([run_app(w, "validator").as_dict()])
    rates, half = latency_rates(opts.latency_rates, results["validator"]["median"])
    rows = []
    for i, rate in enumerate(rates):
        items = prepare_items(w, rate, opts.latency_seconds, ctx.out_dir / "logs" / "paced.bin")
        for rep in range(opts.latency_repeat):
            # Alternate which app goes first, so neither always follows the other.
            for app in APPS if (i + rep) % 2 == 0 else tuple(reversed(APPS)):
                _say(f"[{rep + 1}/{opts.latency_repeat}] latency: {app} at {rate:,.0f} claims/s "
                     f"for {opts.latency_seconds:.0f}s ...")  # fmt: skip
                row = measure_latency(w, rate, opts.latency_seconds, items, app).as_dict()
                _say(f"  p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                     f"{row['cpu_cores']:.2f} cores, behind {row['behind_s']:.1f}s")  # fmt: skip
                rows.append(row | {"round": rep + 1})
        items.paced.unlink(missing_ok=True)
    results["latency"] = {
        "rows": rows, "half_max_rate": half, "seconds": opts.latency_seconds,
        "summary": latency_summary(rows),
    }  # fmt: skip


def rss(ctx: Context, opts: Any, results: dict[str, Any]) -> None:
    _say(f"RSS over {opts.rss_claims:,} claims (history off) ...")
    mem = results["rss"] = measure_memory(ctx.w, opts.rss_claims).as_dict()
    _say(f"  peak {mem['peak_rss_mb']:.0f} MB, growth {mem['growth_mb']:+.1f} MB")


def history(ctx: Context, opts: Any, results: dict[str, Any]) -> None:
    _say(f"history: changelog of {opts.history_members:,} members, restore, validator ...")
    h = measure_history(ctx.w, opts.history_members, opts.history_claims_per_member)
    results["history"] = h
    r = h["restore"]
    _say(f"  restore {r['rate']:,.0f} records/s, RSS {r['rss_before_mb']:.0f} → "
         f"{r['peak_rss_mb']:.0f} MB")  # fmt: skip


def profile(ctx: Context, opts: Any, results: dict[str, Any]) -> None:
    """The headline input, and the largest claims when their rows ran (where CPU per claim
    matters most: the 50-line target is per CPU-second)."""
    largest = max(ctx.workloads)
    for lines in sorted({HEADLINE_LINES, largest}):
        _say(f"profiling one validator run ({lines}-line claims) with py-spy ...")
        suffix = "" if lines == HEADLINE_LINES else f".l{lines}"
        raw_profile = ctx.out_dir / f"validator{suffix}-profile.txt"
        run_app(ctx.workloads[lines], "validator", profiler=Profiler(raw_profile))
        results[f"profile{suffix}"] = summarise(raw_profile).as_dict() | {"lines": lines}


STEPS: dict[str, Callable[[Context, Any, dict[str, Any]], None]] = {
    "latency": latency,
    "rss": rss,
    "history": history,
    "profile": profile,
}
