"""Measuring a consumer under test from the outside: throughput from its group's committed
offsets, CPU and memory from /proc, all sampled on the same clock.

Throughput window: from the first commit seen (after the group is stable with the expected
number of members) to the last commit *before* the final one. Excluding the final step keeps
apps that commit on a timer (Quix Streams checkpoints every 5 s by default) from being charged
for the idle wait before their last commit; for the validator (one commit per batch, every
~0.1 s) it makes no difference.

The broker's CPU is sampled over the same window when its pid is known (a local broker): it
shares this machine's cores with the app, so the two together are what a rate costs here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.cluster import Cluster, GroupProgress

_TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB from /proc/<pid>/status (VmRSS, VmHWM)."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


class App:
    """A consumer under test run as a subprocess; its output goes to a log file."""

    def __init__(
        self, name: str, cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
    ) -> None:
        self.name = name
        self.log = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            list(cmd), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 30.0) -> int | None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Sample:
    t: float
    committed: int
    cpu: float
    rss_mb: float
    broker_cpu: float | None = None  # the broker's CPU so far, when its pid is known


@dataclass
class RunResult:
    claims: int  # records in the window
    seconds: float  # window length
    startup_seconds: float  # start of the processes → first commit seen
    rate: float  # claims/s over the window
    cpu_cores: float  # CPU used by the processes over the window, in cores
    peak_rss_mb: float
    approximate: bool = False  # start-up included (see `_result`)
    broker_cores: float | None = None  # CPU the broker used over the same window, in cores
    samples: list[Sample] = field(default_factory=list, repr=False)

    @property
    def per_cpu_second(self) -> float:
        return self.rate / self.cpu_cores if self.cpu_cores > 0 else 0.0


def machine_cpu_seconds() -> float:
    """CPU time every process on this machine has used so far (all cores; /proc/stat's busy
    states: user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


class AppFailedError(RuntimeError):
    pass


def watch(
    apps: Sequence[App],
    progress: GroupProgress,
    total: int,
    *,
    cluster: Cluster | None = None,
    group: str = "",
    members: int = 1,
    timeout: float = 1800.0,
    interval: float = SAMPLE_SECONDS,
    on_sample: Callable[[Sample], Any] | None = None,
    broker_pid: int | None = None,
) -> RunResult:
    """Sample until the group has committed `total` records; see the module docstring."""
    started = time.monotonic()
    deadline = started + timeout
    samples: list[Sample] = []
    stable = members <= 1 or cluster is None
    window_start: int | None = None
    peak = 0.0
    while True:
        for app in apps:
            if not app.alive():
                raise AppFailedError(f"{app.name} exited ({app.proc.returncode}):\n{app.tail()}")
        committed = progress.committed()
        now = time.monotonic()
        if committed is not None:
            cpu = sum(cpu_seconds(a.pid) for a in apps)
            rss = [memory_mb(a.pid) for a in apps]
            peak = max(peak, *(hwm for _, hwm in rss))
            broker = cpu_seconds(broker_pid) if broker_pid else None
            sample = Sample(now, committed, cpu, sum(r for r, _ in rss), broker)
            samples.append(sample)
            if on_sample:
                on_sample(sample)
            if not stable and cluster is not None:
                stable = cluster.group_members(group) >= members
            if window_start is None and stable and committed > 0:
                window_start = len(samples) - 1
            if committed >= total:
                break
        if now > deadline:
            raise AppFailedError(f"timed out: {committed}/{total} committed after {timeout:.0f}s")
        time.sleep(interval)
    if window_start is None:
        window_start = next(i for i, s in enumerate(samples) if s.committed > 0)
    return _result(samples, window_start, started, peak)


def _result(samples: list[Sample], start: int, started: float, peak: float) -> RunResult:
    first, final = samples[start], samples[-1]
    # The first sample at which each new committed value was seen.
    pairs = zip(samples[start:], samples[start + 1 :], strict=False)
    steps = [s for prev, s in pairs if s.committed != prev.committed]
    before_final = [s for s in steps if s.committed < final.committed]
    end = before_final[-1] if len(before_final) >= 3 else final
    approximate = False
    if end.committed <= first.committed:
        # Everything was committed at once (a short run of an app that commits on a timer):
        # the best there is, start-up included, is the whole run.
        first, end, approximate = samples[0], final, True
    seconds = max(end.t - first.t, 1e-6)
    claims = end.committed - first.committed
    broker = None
    if first.broker_cpu is not None and end.broker_cpu is not None:
        broker = (end.broker_cpu - first.broker_cpu) / seconds
    return RunResult(
        claims=claims,
        seconds=seconds,
        startup_seconds=first.t - started,
        rate=claims / seconds,
        cpu_cores=(end.cpu - first.cpu) / seconds,
        peak_rss_mb=peak,
        approximate=approximate,
        broker_cores=broker,
        samples=samples,
    )
