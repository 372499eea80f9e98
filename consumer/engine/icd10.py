"""ICD-10-CM validity, from the maintained `simple-icd-10-cm` code set (not a hand-made list).

Importing the package parses its whole classification (about 2.6 s here), which every
`validate` and `explain` would pay at start-up. The billable codes are therefore derived once
per package version and kept in the cache folder; a cache that cannot be written (a read-only
file system) only costs that time again.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import tempfile
from functools import cache

from consumer.cachedir import cache_root

_PACKAGE = "simple-icd-10-cm"


def _from_package() -> frozenset[str]:
    import simple_icd_10_cm as icd  # slow: see the module docstring

    leaves = [code for code in icd.get_all_codes(True) if icd.is_leaf(code)]
    return frozenset(leaves) | frozenset(code.replace(".", "") for code in leaves)


@cache
def billable_codes() -> frozenset[str]:
    """Every billable code (a leaf of the classification), upper case, with and without its
    dot. Handed to the compiled engine, which answers `diagnosis.invalid` from it."""
    path = cache_root() / f"icd10cm-billable-{importlib.metadata.version(_PACKAGE)}.txt"
    with contextlib.suppress(OSError):
        return frozenset(path.read_text(encoding="ascii").split())
    codes = _from_package()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then renamed: a reader never sees half a list.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("\n".join(sorted(codes)))
        os.replace(temporary, path)
    return codes
