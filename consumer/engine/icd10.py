"""ICD-10-CM validity, from the maintained `simple-icd-10-cm` code set (not a hand-made list)."""

from __future__ import annotations

from functools import cache

import simple_icd_10_cm as icd


@cache
def billable_codes() -> frozenset[str]:
    """Every billable code (a leaf of the classification), with and without its dot.

    Built once from the package's code list and handed to the compiled engine, which
    answers `diagnosis.invalid` from it.
    """
    leaves = [code for code in icd.get_all_codes(True) if icd.is_leaf(code)]
    return frozenset(leaves) | frozenset(code.replace(".", "") for code in leaves)


def code_set_version() -> str:
    """The ICD-10-CM release the package ships (for build info)."""
    return str(getattr(icd, "__version__", "unknown"))
