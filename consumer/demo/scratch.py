"""A sample claim's working state while it is generated (`consumer.demo.generator`) and then
given defects (`consumer.demo.defects`): where the generator put each kind of line."""

from __future__ import annotations

from typing import Any

Line = dict[str, Any]


class Scratch:
    """Per-claim working state: where the generator put each kind of line."""

    __slots__ = (
        "auth_lines",
        "cents",
        "claim_auth",
        "claim_rendering",
        "drug",
        "dx_count",
        "first_day",
        "flush",
        "future",
        "g",
        "last",
        "lines",
        "lob",
        "pairs",
        "per_diem",
        "rendered",
        "scig",
        "solo",
        "total_skew",
    )

    def __init__(self, lob: str, dx_count: int, first_day: int) -> None:
        self.lob = lob
        self.dx_count = dx_count
        self.first_day = first_day
        self.lines: list[Line] = []
        self.cents: list[int] = []
        self.last = first_day  # last day of service (ordinal)
        self.claim_auth: str | None = None
        self.claim_rendering: str | None = None
        self.auth_lines: list[Line] = []  # lines whose code needs prior authorization
        self.per_diem: Line | None = None
        self.drug: Line | None = None  # the main J/Q drug line
        self.flush: Line | None = None  # heparin flush line inside the per-diem span
        self.scig: Line | None = None
        self.solo: list[Line] = []  # 99601 visits without an add-on hour
        self.pairs: list[Line] = []  # 99601 visits with a 99602 the same day
        self.g: list[Line] = []  # HIT G-code visit lines, at least two days apart
        self.rendered: list[Line] = []  # lines carrying a line-level rendering NPI
        self.future = False  # submit before the last day of service
        self.total_skew = 0  # cents added to total_charge
