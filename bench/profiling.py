"""Where the validator's time goes: a py-spy profile (raw collapsed stacks) of one run,
summarised by function (self and total time) and by area of the code.

Only samples inside the Kafka loop (`Pipeline._loop`) count, so start-up (importing, loading
the ICD-10-CM code set) does not dilute the steady state. Time spent inside librdkafka calls
shows as self time of the Python function that made the call (e.g. `Pipeline._produce`).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LINE = re.compile(r":\d+\)$")
_LOOP = "Pipeline._loop (consumer/stream/pipeline.py)"

# (area, test on the leaf frame), first match wins.
_AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Time inside the compiled engine shows as its caller's frame (py-spy without --native).
    (
        "engine batch: decode, rules, decision (compiled)",
        ("process_batch (consumer/stream/processing",),
    ),
    ("decoder (records the engine hands back)", ("consumer/codec/", "fastavro")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("processor (headers, DLQ guard)", ("consumer/stream/processing.py", "consumer/stream/dlq.py")),
    ("Kafka loop + librdkafka calls", ("consumer/stream/", "confluent_kafka")),
)


def _function(frame: str) -> str:
    return _LINE.sub(")", frame)


@dataclass
class Profile:
    samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    total_time: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)

    def top_self(self, n: int = 15) -> list[tuple[str, float, float]]:
        """(function, self %, total %) by self time."""
        return [
            (f, 100 * c / self.samples, 100 * self.total_time[f] / self.samples)
            for f, c in self.self_time.most_common(n)
        ]

    def area_shares(self) -> list[tuple[str, float]]:
        return [(a, 100 * c / self.samples) for a, c in self.areas.most_common()]

    def as_dict(self, n: int = 25) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "areas_percent": {a: round(p, 1) for a, p in self.area_shares()},
            "top_self": [
                {"function": f, "self_percent": round(s, 1), "total_percent": round(t, 1)}
                for f, s, t in self.top_self(n)
            ],
        }


def _area(leaf: str) -> str:
    for area, needles in _AREAS:
        if any(n in leaf for n in needles):
            return area
    return "other"


def summarise(raw: Path) -> Profile:
    """Read py-spy's `--format raw` output (one `frame;frame;… count` line per stack)."""
    profile = Profile()
    for line in raw.read_text("utf-8", "replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [_function(f) for f in stack.split(";")]
        if _LOOP not in frames:
            continue
        count = int(count_text)
        profile.samples += count
        profile.self_time[frames[-1]] += count
        profile.areas[_area(frames[-1])] += count
        for f in set(frames):
            profile.total_time[f] += count
    return profile


def _py_spy() -> str:
    """py-spy on PATH, else next to this interpreter (pip installs it into the venv)."""
    return shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


class Profiler:
    """py-spy attached to the first process once it commits; stopped (SIGINT) at the end.

    Sampling pauses the process briefly (non-blocking sampling reads torn stacks and misplaces
    self time); `--idle` keeps the samples where the loop waits in librdkafka (consume, commit),
    so the shares add up to the loop's wall time.
    """

    def __init__(self, output: Path, rate: int = 200) -> None:
        self.output = output
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return Path(_py_spy()).exists()

    def attach(self, pid: int) -> None:
        self.proc = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(pid), "--rate", str(self.rate), "--idle",
             "--format", "raw", "--output", str(self.output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def detach(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
