"""`results.png` beside `table.txt`: throughput bars (claims/s, with claims per CPU-second
where measured) and latency percentiles against input rate, validator beside passthrough.

matplotlib comes with the `dashboard` extra (`pip install -e ".[dashboard]"`, part of `make
setup`); without it the picture is skipped with a note, the tables are not affected.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLOURS = {"validator": "tab:blue", "passthrough": "tab:orange"}
# Bars by what the row is: our validator, the ceilings it is compared with, the rest.
KINDS = (("validator", "tab:blue"), ("baseline", "tab:cyan"), ("passthrough", "tab:orange"),
         ("peer", "tab:green"), ("kafka-perf", "tab:grey"))  # fmt: skip


def _colour(key: str) -> str:
    return next((c for prefix, c in KINDS if key.startswith(prefix)), "tab:purple")


def draw(
    path: Path, title: str, results: dict[str, Any], labels: Sequence[tuple[str, str]]
) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [(label.strip(), results[key]) for key, label in labels if key in results]
    colours = [_colour(key) for key, _ in labels if key in results][::-1]
    latency = results.get("latency", {}).get("summary", [])
    fig, (bars, lat) = plt.subplots(
        1, 2, figsize=(16, max(5.0, 0.38 * len(rows) + 1.5)), width_ratios=(3, 2)
    )
    fig.suptitle("\n".join(textwrap.wrap(title, 160)), fontsize=9)

    names = [label for label, _ in rows][::-1]
    rates = [r["median"] for _, r in rows][::-1]
    errors = [
        [r["median"] - r["min"] for _, r in rows][::-1],
        [r["max"] - r["median"] for _, r in rows][::-1],
    ]
    bars.barh(names, rates, xerr=errors, color=colours, alpha=0.8, capsize=2)
    for y, (_, r) in enumerate(rows[::-1]):
        per_cpu = r.get("claims_per_cpu_second")
        text = f"{r['median']:,.0f}/s" + (f"  ({per_cpu:,.0f} per CPU-s)" if per_cpu else "")
        bars.text(r["max"], y, "  " + text, va="center", fontsize=7)  # right of the whisker
    bars.set_xscale("log")
    bars.set_xlabel("claims/s (median, min-max; log scale)")
    bars.tick_params(axis="y", labelsize=8)
    bars.grid(axis="x", alpha=0.3)

    for app in ("validator", "passthrough"):
        points = sorted((r["rate"], r) for r in latency if r["app"] == app)
        if not points:
            continue
        xs = [x for x, _ in points]
        for q, style in (("p50_ms", ":"), ("p99_ms", "-"), ("max_ms", "--")):
            ys = [r[q] if not math.isnan(r[q]) else None for _, r in points]
            lat.plot(xs, ys, style, marker="o", color=COLOURS[app],
                     label=f"{app} {q[:-3]}")  # fmt: skip
    lat.axhline(50, color="grey", linewidth=0.8, linestyle="-.", label="SPEC p99 target 50 ms")
    lat.set_xscale("log")
    lat.set_yscale("log")
    rates = sorted({r["rate"] for r in latency})
    if rates:  # the measured rates as ticks, not the log scale's crowded minor ones
        lat.set_xticks(rates, [f"{x / 1000:g}k" for x in rates])
        lat.minorticks_off()
    lat.set_xlabel("input rate, claims/s")
    lat.set_ylabel("decision latency, ms")
    lat.set_title("latency against rate (same run)", fontsize=9)
    lat.grid(alpha=0.3)
    if latency:
        lat.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
