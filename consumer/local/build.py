"""Tools the local components are built with: the version a POM pins, Java and Maven on PATH,
and a build into the tool cache that happens once however many processes ask at the same time."""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from consumer.errors import InfusionValidatorError, LocalSetupError
from consumer.local.process import tail

_HINTS = {
    "java": "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
    "mvn": "install Maven 3.8+ (Debian: apt-get install maven)",
}
_MARKER = ".complete"  # written last: a half-finished build is never taken for a cache hit


def pom_property(pom: Path, name: str, error: type[InfusionValidatorError]) -> str:
    """The value of `<name>` in the POM's properties."""
    match = re.search(rf"<{re.escape(name)}>\s*([^<\s]+)\s*</{re.escape(name)}>", pom.read_text())
    if match is None:
        raise error(f"no <{name}> property in {pom}")
    return match.group(1)


def which(tool: str, error: type[InfusionValidatorError] = LocalSetupError) -> str:
    path = shutil.which(tool)
    if path is None:
        raise error(f"`{tool}` not found on PATH: {_HINTS.get(tool, 'install it')}")
    return path


def run(cmd: list[str], failure: str, error: type[InfusionValidatorError]) -> None:
    """Run `cmd`; on a non-zero exit, `error(failure)` with the tail of its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise error(f"{failure}\n{tail(done.stdout + done.stderr)}")


def built_once(home: Path, result: Path, build: Callable[[Path], None]) -> Path:
    """`result` (a directory under `home`), made by `build(stage)` into a fresh staging
    directory on first use and moved into place. A file lock serialises concurrent callers;
    a marker written last means a half-finished build is never taken for a cache hit."""
    marker = home / _MARKER
    if marker.is_file() and result.is_dir():
        return result
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and result.is_dir():  # another process finished it meanwhile
            return result
        marker.unlink(missing_ok=True)
        shutil.rmtree(result, ignore_errors=True)
        # A fresh dir per attempt: an orphaned build from a killed run cannot write into it.
        stage = Path(tempfile.mkdtemp(prefix="stage-", dir=home))
        try:
            build(stage)
            stage.rename(result)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        marker.write_text("done\n", "utf-8")
    return result
