"""Offline `validate` on the same claims from a file (JSON Lines, the analysts' format).

The rate is the command's own closing line (`… in 12.34s (N claims/s)`), which times the
read → decide → write loop and not the start-up (rule set and ICD-10-CM code set loading).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.apps import REPO
from consumer.demo.samples import generate_claims

_SUMMARY = re.compile(r"(\d+) claims decided.* in ([\d.]+)s \(([\d,]+) claims/s")


@dataclass
class OfflineResult:
    claims: int
    seconds: float
    rate: float

    def as_dict(self) -> dict[str, object]:
        return {"rate": round(self.rate, 1), "claims": self.claims, "seconds": self.seconds}


def write_claims(path: Path, count: int, seed: int, lines: int) -> Path:
    """The benchmark's claims (same generator and seed as the topic) as JSON Lines."""
    with path.open("wb") as out:
        for claim in generate_claims(count, seed, lines_per_claim=lines, history_events=False):
            out.write(orjson.dumps(claim, option=orjson.OPT_APPEND_NEWLINE))
    return path


def run_validate(claims_file: Path) -> OfflineResult:
    cmd = [sys.executable, "-m", "consumer", "validate", str(claims_file), "-o", os.devnull]
    done = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=1800
    )
    match = _SUMMARY.search(done.stderr or "")
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"validate failed ({done.returncode}): {(done.stderr or '')[-1000:]}")
    claims, seconds = int(match.group(1)), float(match.group(2))
    return OfflineResult(claims, seconds, claims / seconds if seconds > 0 else 0.0)
