"""infusion-validator: decides home infusion claims against policy RB.046.A."""

import os
from importlib.metadata import PackageNotFoundError, version

# The compiled engine allocates with mimalloc, which reads its options when `consumer._native`
# loads: set before any import of it. By default mimalloc keeps freed memory for 1 s before it
# returns it to the system; the engine's per-batch buffers (the decisions and changelog records
# it produces itself, ADR 0006) then held ~30 MB more at the peak: a validator holding 1M members
# of history peaked at 414 MB, and at 382 MB with this (SPEC §9: <= 400 MB), at the same rate.
# An operator's own MIMALLOC_PURGE_DELAY wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

try:
    __version__ = version("infusion-validator")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
