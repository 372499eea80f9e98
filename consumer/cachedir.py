"""Where the product keeps what it builds or downloads once: Kafka jars, tools, derived data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$INFUSION_VALIDATOR_CACHE`, else `~/.cache/infusion-validator`."""
    env = os.environ.get("INFUSION_VALIDATOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "infusion-validator"
