"""ICD-10-CM validity, from the maintained `simple-icd-10-cm` code set (not a hand-made list)."""

from __future__ import annotations

from functools import lru_cache

import simple_icd_10_cm as icd


@lru_cache(maxsize=65536)
def is_billable(code: str) -> bool:
    """True for a valid code at the highest level of specificity (a leaf of the classification).

    The dot is optional (`E11.9` and `E119` are the same code); case and spaces are ignored.
    Categories such as `E11` are valid codes but not billable.
    """
    normalised = code.strip().upper()
    return bool(normalised) and icd.is_valid_item(normalised) and icd.is_leaf(normalised)


def code_set_version() -> str:
    """The ICD-10-CM release the package ships (for build info)."""
    return str(getattr(icd, "__version__", "unknown"))
