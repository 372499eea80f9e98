"""`infusion-validator dashboard`: the Grafana dashboard's panels, drawn from a live Prometheus.

Grafana cannot be installed on these machines, so this runs every panel's PromQL from
`files/dashboard.json` (its variables substituted as Grafana would) as a range query against a
real Prometheus and draws the panels on the dashboard's own 24-column grid into one PNG with
matplotlib. It shows what the queries return, not what Grafana would paint: thresholds,
colours, overrides and value mappings are not applied.

    infusion-validator dashboard --prometheus http://127.0.0.1:9090 --output dashboard.png
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.errors import InfusionValidatorError
from consumer.paths import CHART_FILES

DASHBOARD = CHART_FILES / "dashboard.json"
GRID_COLUMNS = 24  # Grafana's grid


class PrometheusError(InfusionValidatorError):
    """Prometheus cannot be reached, or refused a query."""


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # timeseries | stat | bargauge | table | row
    x: int
    y: int
    w: int
    h: int
    unit: str
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Series:
    label: str
    times: list[float]
    values: list[float]


def load_panels(path: Path = DASHBOARD) -> list[Panel]:
    """The dashboard's panels (rows included), in file order."""
    board = json.loads(path.read_text("utf-8"))
    panels = []
    for p in board["panels"]:
        grid = p["gridPos"]
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit") or ""
        targets = tuple(
            Target(t["expr"], t.get("legendFormat") or "") for t in p.get("targets", [])
        )
        panels.append(
            Panel(p["title"], p["type"], grid["x"], grid["y"], grid["w"], grid["h"], unit, targets)
        )
    return panels


def grafana_variables(job: str, rate_interval: str, range_: str) -> dict[str, str]:
    """The values Grafana would put in for this dashboard's variables (all pods). A single
    value goes in as it is, as Grafana does (a regex escape would be an invalid PromQL
    string escape)."""
    return {
        "job": job, "pod": ".*", "__rate_interval": rate_interval,
        "__interval": rate_interval, "__range": range_,
    }  # fmt: skip


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """`$name` and `${name}` replaced; an unknown variable is an error, not a silent blank."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise PrometheusError(f"dashboard variable ${name} has no value")
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def legend(template: str, labels: Mapping[str, str]) -> str:
    """Grafana's legendFormat: `{{label}}` replaced by the series' label value."""
    if not template or template == "__auto":  # Grafana's "auto": the series' labels
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


class Prometheus:
    """The few HTTP API calls the dashboard and the tests need."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def api(self, path: str, **params: str | float) -> Any:
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as answer:  # noqa: S310
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:  # a bad query answers 400 with a JSON error
            body = json.loads(exc.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus refused {path} {params}: {body.get('error')}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Any]:
        return list(self.api("query_range", query=expr, start=start, end=end, step=step)["result"])

    def series(self, target: Target, start: float, end: float, step: float) -> list[Series]:
        """The target's series over the range, NaN points dropped; empty series left out."""
        found = []
        for result in self.query_range(target.expr, start, end, step):
            points = [(float(t), float(v)) for t, v in result["values"] if not math.isnan(float(v))]
            if points:
                times, values = zip(*points, strict=True)
                label = legend(target.legend, result["metric"])
                found.append(Series(label, list(times), list(values)))
        return found


def _scaled(unit: str, values: list[float]) -> tuple[list[float], str]:
    """Values in a readable scale for the axis, and the suffix that says which."""
    top = max((abs(v) for v in values), default=0.0)
    if unit == "s" and top < 1:
        return [v * 1000 for v in values], "ms"
    if unit == "bytes":
        return [v / 2**20 for v in values], "MiB"
    if unit == "percentunit":
        return [v * 100 for v in values], "%"
    return values, unit.removeprefix("suffix:").strip() if unit != "short" else ""


def render(
    prometheus: Prometheus,
    output: Path,
    *,
    job: str = "infusion-validator",
    minutes: float = 15.0,
    step: float = 5.0,
    rate_interval: str = "1m",
    dashboard: Path = DASHBOARD,
    title: str | None = None,
) -> dict[str, int]:
    """Draw every panel over the last `minutes` into `output` (PNG); returns, per panel
    title, how many series it drew (0: the panel's queries returned no data)."""
    import matplotlib  # imported here: only this command needs it

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = load_panels(dashboard)
    end = time.time()
    start = end - minutes * 60
    variables = grafana_variables(job, rate_interval, f"{int(minutes)}m")
    rows = max(p.y + p.h for p in panels)
    fig = plt.figure(figsize=(GRID_COLUMNS * 0.85, rows * 0.42 + 1))
    fig.suptitle(title or f"infusion-validator (job {job}), last {minutes:g} min", fontsize=16)
    top = 1 - 1 / (rows * 0.42 + 1)  # leave the suptitle its inch
    drawn: dict[str, int] = {}
    for panel in panels:
        left, width = panel.x / GRID_COLUMNS, panel.w / GRID_COLUMNS
        bottom = top * (1 - (panel.y + panel.h) / rows)
        if panel.kind == "row":
            fig.text(left + 0.005, bottom + 0.2 * top / rows, panel.title, fontsize=13,
                     fontweight="bold")  # fmt: skip
            continue
        # Room on the left for the tick labels, below for the time axis, above for the title.
        ax = fig.add_axes((left + 0.03, bottom + 0.12 * top * panel.h / rows,
                           width - 0.04, top * panel.h / rows * 0.72))  # fmt: skip
        series = [
            s for t in panel.targets
            for s in prometheus.series(
                Target(substitute(t.expr, variables), t.legend), start, end, step
            )
        ]  # fmt: skip
        drawn[panel.title] = len(series)
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.tick_params(labelsize=7)
        if not series:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        elif panel.kind == "timeseries":
            for s in series[:12]:  # a legend longer than that helps nobody
                values, suffix = _scaled(panel.unit, s.values)
                # Matplotlib's date axis counts days since 1970-01-01 (UTC).
                ax.plot([t / 86400 for t in s.times], values, label=s.label)
            ax.set_ylabel(suffix, fontsize=8)
            ax.xaxis_date()
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
            ax.legend(fontsize=6, loc="upper left")
            ax.grid(alpha=0.3)
        elif panel.kind == "stat":
            values, suffix = _scaled(panel.unit, [s.values[-1] for s in series])
            text = "\n".join(f"{v:.4g} {suffix}".strip() for v in values[:3])
            ax.text(0.5, 0.45, text, ha="center", va="center", fontsize=18, transform=ax.transAxes)
            if panel.unit == "short" and len(series) > 0 and series[0].label != "value":
                ax.text(0.5, 0.08, series[0].label, ha="center", fontsize=8, transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        elif panel.kind == "bargauge":
            ranked = sorted(series, key=lambda s: s.values[-1])[-10:]
            ax.barh([s.label for s in ranked], [s.values[-1] for s in ranked])
        else:  # table: one line per series, its labels
            ax.axis("off")
            lines = [s.label for s in series[:6]]
            ax.text(0, 0.9, "\n".join(lines), va="top", fontsize=8, family="monospace",
                    transform=ax.transAxes)  # fmt: skip
    fig.savefig(output, dpi=80)
    plt.close(fig)
    return drawn
