"""Synthetic home infusion claims in JSON form (SPEC §2.1) for the demo, benchmarks and tests.

The mix follows RB.046.A: Medicaid and CHIP bill S-code per diems with drug and nursing lines;
Medicare Advantage and IFP bill HIT G-code visit days with the drug, pump and supplies. Clean
claims pass every rule of SPEC §3, the stateful ones included: a member's claims follow each
other in time (no overlapping per-diem spans), only a member's first G-code claim uses an
initial-visit code, and event and claim ids never repeat. About `invalid_ratio` of the claims
carry one or two realistic defects (`consumer.demo.defects`), and about 3 % of the events are
ones only the claim history catches (`consumer.demo.history_events`: re-sent events, duplicate
claims, per diems billed twice, early initial visits, replacements and voids);
`generate_labelled_claims` also yields the rule ids each claim should fail.

Determinism: everything is drawn from one `random.Random(seed)` in a fixed order.
Speed: each line is a fresh literal dict built from flat tables, never a copied template.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from consumer.demo.generator import DEFAULT_START, Generator
from consumer.demo.history_events import RESENT, HistoryEvents

__all__ = ["DEFAULT_START", "RESENT", "generate_claims", "generate_labelled_claims"]

Claim = dict[str, Any]


def generate_labelled_claims(
    count: int,
    seed: int,
    *,
    lines_per_claim: int | None = None,
    invalid_ratio: float = 0.3,
    start: datetime | date | None = None,
    history_events: bool = True,
) -> Iterator[tuple[Claim, tuple[str, ...]]]:
    """Like `generate_claims`, each claim paired with the rule ids it must fail (empty for a
    clean claim; `RESENT` for an event decided before). Bad arguments raise ValueError at the
    call."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if lines_per_claim is not None and lines_per_claim < 1:
        raise ValueError("lines_per_claim must be >= 1")
    if not 0.0 <= invalid_ratio <= 1.0:
        raise ValueError("invalid_ratio must be between 0 and 1")
    base = DEFAULT_START if start is None else start
    day = base.date() if isinstance(base, datetime) else base
    gen = Generator(seed, lines_per_claim, invalid_ratio, day, count)
    one_line = lines_per_claim in (None, 1)
    events = HistoryEvents(gen.rng, gen.tag, new_claims=one_line) if history_events else None
    return _stream(gen, events, count)


def _stream(
    gen: Generator, events: HistoryEvents | None, count: int
) -> Iterator[tuple[Claim, tuple[str, ...]]]:
    for index in range(count):
        derived = events.derive(index) if events is not None else None
        if derived is None:
            derived = gen.claim(index)
            if events is not None:
                events.remember(*derived)
        yield derived


def generate_claims(
    count: int,
    seed: int,
    *,
    lines_per_claim: int | None = None,
    invalid_ratio: float = 0.3,
    start: datetime | date | None = None,
    history_events: bool = True,
) -> Iterator[Claim]:
    """Yield `count` claims in JSON form (SPEC §2.1); the same arguments give the same claims.

    `lines_per_claim` fixes the number of service lines (the benchmark uses 5); by default
    claims have 1-6 lines. About `invalid_ratio` of the claims carry one or two defects;
    `history_events` adds the events only the claim history catches (re-sent events reuse an
    event id; duplicates, replacements and voids a claim id). Service dates begin within 120
    days after `start` (default 2026-06-15); dates before RB.046.A's effective date
    (2026-06-14) put claims outside the policy.
    """
    labelled = generate_labelled_claims(
        count,
        seed,
        lines_per_claim=lines_per_claim,
        invalid_ratio=invalid_ratio,
        start=start,
        history_events=history_events,
    )
    return (claim for claim, _ in labelled)
