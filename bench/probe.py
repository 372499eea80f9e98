"""What a validator process says about itself on /metrics at the end of a run: whether its
claim history and its shadow rule set were really at work.

The settings can be set on any build, but a build whose Kafka loop does not use them yet
ignores them; the bench reads the counters rather than trusting the setting, so a row
labelled "history on" is never silently a stateless run.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from collections import defaultdict

PREFIX = "infusion_validator_"
# Series summed over their labels; the short names are the result keys.
SERIES = {
    "history_members": "history_members",
    "duplicate_events": "duplicate_events_total",
    "history_restore_records": "history_restore_records_total",
    "shadow_decisions": "shadow_decisions_total",
    "shadow_disagreements": "shadow_disagreements_total",
}


def free_port() -> int:
    """A TCP port free right now (the validator binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics_text(port: int, timeout: float) -> str:
    """The process's /metrics; "" when it does not answer (e.g. an older build, or one that
    serves no metrics)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            return str(r.read().decode("utf-8", "replace"))
    except OSError:
        return ""


def _samples(text: str) -> list[tuple[str, str, float]]:
    """(name, labels as written between the braces, value) of each sample line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, labels = series.partition("{")
        with contextlib.suppress(ValueError):
            out.append((name, labels.rstrip("}"), float(value)))
    return out


def scrape(port: int, timeout: float = 5.0) -> dict[str, float]:
    """The SERIES from the process's /metrics (summed over labels); {} when it does not
    answer."""
    wanted = {PREFIX + name: key for key, name in SERIES.items()}
    found: dict[str, float] = defaultdict(float)
    for name, _, value in _samples(_metrics_text(port, timeout)):
        if name in wanted:
            found[wanted[name]] += value
    return dict(found)


def loop_steps_of(text: str) -> dict[str, tuple[float, float]]:
    """step -> (seconds, batches) of `infusion_validator_loop_step_seconds` in a /metrics
    text: where the loop's thread spent its batches (consume, decide, commit_wait)."""
    steps: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, labels, value in _samples(text):
        for suffix, at in (("_sum", 0), ("_count", 1)):
            if name == f"{PREFIX}loop_step_seconds{suffix}" and labels.startswith('step="'):
                steps[labels[6:].split('"', 1)[0]][at] = value
    return {step: (seconds, count) for step, (seconds, count) in steps.items()}


def loop_steps(port: int, timeout: float = 5.0) -> dict[str, tuple[float, float]]:
    """`loop_steps_of` the process's /metrics ({} when it does not answer)."""
    return loop_steps_of(_metrics_text(port, timeout))


def merged(scrapes: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for one in scrapes:
        for key, value in one.items():
            out[key] += value
    return dict(out)


def history_active(metrics: dict[str, float]) -> bool:
    """Members held, re-sent events skipped or changelog records restored: the history did
    something (the sample stream always has members and ~3 % re-sent events)."""
    keys = ("history_members", "duplicate_events", "history_restore_records")
    return any(metrics.get(k, 0) > 0 for k in keys)


def shadow_active(metrics: dict[str, float]) -> bool:
    return metrics.get("shadow_decisions", 0) > 0
