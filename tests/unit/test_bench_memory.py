"""The bench's reading of a long run's RSS (`bench.memory.rss_marks`, `MemoryResult.flat`)."""

from __future__ import annotations

from bench.measure import Sample
from bench.memory import rss_marks

CLAIMS = 2_000_000


def run(rss_of: dict[int, float], default: float = 138.0) -> list[Sample]:
    """A sample every 0.5 % of the claims, at `default` MB unless `rss_of` (by per mille)
    says otherwise."""
    return [
        Sample(t=i / 10, committed=i * CLAIMS // 200, cpu=0.0, rss_mb=rss_of.get(i * 5, default))
        for i in range(201)
    ]


def test_a_single_dip_at_a_mark_is_not_read_as_the_rss_there() -> None:
    # Run 20261207T233744Z: one sample of 130 MB at 25 % in an RSS of 138 throughout.
    marks = rss_marks(run({250: 130.0}), CLAIMS)
    assert marks == {"10%": 138.0, "25%": 138.0, "50%": 138.0, "75%": 138.0, "100%": 138.0}


def test_a_steady_leak_still_shows_as_growth() -> None:
    # 100 MB at the start, +1 MB every 5 % of the run: 120 at the end.
    leaking = {per_mille: 100.0 + per_mille / 50 for per_mille in range(0, 1001, 5)}
    marks = rss_marks(run(leaking), CLAIMS)
    assert marks["25%"] == 105.0
    assert marks["100%"] - marks["25%"] > 14  # within a window's width of the 15 MB grown
