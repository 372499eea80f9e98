"""Small vocabulary shared by the catalogue, the rule set and the rules: code syntax and ranges,
lines of business, code kinds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, get_args

LineOfBusiness = Literal["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN"]
LINES_OF_BUSINESS: tuple[str, ...] = get_args(LineOfBusiness)
# "ALL" in a data file means every line of business, UNKNOWN included, so a claim with an
# unknown plan is never let through a rule that applies everywhere.
LobOrAll = Literal["MEDICARE_ADVANTAGE", "INDIVIDUAL_FAMILY", "CHIP", "MEDICAID", "UNKNOWN", "ALL"]

Kind = Literal["drug", "per_diem", "hit_professional", "nursing", "equipment", "supply", "other"]

# HCPCS Level II (letter + 4 digits) and CPT (5 digits, or 4 digits + a letter: categories II/III).
_CODE = re.compile(r"^[A-Z0-9]{5}$")
_RANGE_END = re.compile(r"^([A-Z]*)([0-9]+)$")
# Ranges in the data are short (J9000-J9999 is the widest); a typo like J0000-J9999 is caught.
MAX_RANGE_SIZE = 2000


def normalise_code(code: str) -> str:
    """Procedure codes are compared upper case without surrounding spaces."""
    return code.strip().upper()


def expand_codes(spec: str) -> list[str]:
    """`"S9500"` → `["S9500"]`; `"S9325-S9328"` → the four codes. Raises ValueError on bad input."""
    spec = normalise_code(spec)
    if "-" not in spec:
        if not _CODE.match(spec):
            raise ValueError(f"{spec!r} is not a 5-character HCPCS/CPT code")
        return [spec]
    first, _, last = spec.partition("-")
    start, end = _RANGE_END.match(first), _RANGE_END.match(last)
    if not (start and end and _CODE.match(first) and _CODE.match(last)):
        raise ValueError(f"{spec!r} is not a code range like S9325-S9379")
    prefix, digits = start.groups()
    if end.group(1) != prefix or len(end.group(2)) != len(digits):
        raise ValueError(f"{spec!r}: both ends of a range need the same letter and length")
    low, high = int(digits), int(end.group(2))
    if high < low:
        raise ValueError(f"{spec!r}: the range ends before it starts")
    if high - low >= MAX_RANGE_SIZE:
        raise ValueError(f"{spec!r}: a range of more than {MAX_RANGE_SIZE} codes looks like a typo")
    return [f"{prefix}{n:0{len(digits)}d}" for n in range(low, high + 1)]


def expand_lobs(values: Sequence[str]) -> frozenset[str]:
    """Lines of business named in a data file, with ALL expanded."""
    if "ALL" in values:
        return frozenset(LINES_OF_BUSINESS)
    return frozenset(values)
