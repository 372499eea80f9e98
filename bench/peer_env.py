"""The peer's virtual environment: Quix Streams from PyPI plus our runtime dependencies except
confluent-kafka (Quix pins its own, older range), under ~/.cache/infusion-validator/ — never in
the repository. Built once (about a minute), reused while the marker file is there."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

from consumer.cachedir import cache_root

QUIXSTREAMS = "quixstreams==3.25.0"
_MARKER = ".complete"


def peer_env_dir() -> Path:
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    name = re.sub(r"[^A-Za-z0-9.]+", "-", QUIXSTREAMS)
    return cache_root() / f"bench-peer-{name}-{version}"


def _our_requirements() -> list[str]:
    """Runtime requirements of infusion-validator, minus confluent-kafka and the extras."""
    out = []
    for req in requires("infusion-validator") or []:
        if "extra ==" in req or req.lower().startswith("confluent-kafka"):
            continue
        out.append(req.split(";")[0].strip())
    return out


def peer_python(log: Path | None = None) -> Path:
    """The peer venv's interpreter, creating the venv first if needed."""
    root = peer_env_dir()
    python = root / "bin" / "python"
    if (root / _MARKER).is_file() and python.exists():
        return python
    print(f"  creating the peer venv in {root} ({QUIXSTREAMS}) ...", file=sys.stderr)
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(root)], check=True, stdout=out, stderr=out
        )
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, QUIXSTREAMS, *_our_requirements()], check=True, stdout=out, stderr=out
        )
    finally:
        if log and not isinstance(out, int):
            out.close()
    (root / _MARKER).write_text(QUIXSTREAMS + "\n", "utf-8")
    return python


def peer_versions(python: Path) -> dict[str, str]:
    """Versions of the peer's key packages (for the report)."""
    code = (
        "import importlib.metadata as m, confluent_kafka as c;"
        "print(m.version('quixstreams'), c.version()[0], c.libversion()[0])"
    )
    out = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    return {"quixstreams": out[0], "confluent_kafka": out[1], "librdkafka": out[2]}
