"""What the local components have in common: a child process that writes its own log in a work
dir, dies with us, stops with SIGTERM then SIGKILL and explains a failure with the tail of its
log; free ports; and the `start` command that keeps one running until Ctrl-C."""

from __future__ import annotations

import logging
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Protocol, Self

from consumer.errors import InfusionValidatorError, LocalSetupError

log = logging.getLogger(__name__)

# ANSI colour codes, and the advice Maven prints after every error.
_NOISE = re.compile(
    r"\x1b\[[0-9;]*m|^\[ERROR\] *(|To see .*|Re-run .*|For more .*|\[Help .*)$", re.M
)


def tail(text: str, lines: int = 25) -> str:
    """The last `lines` lines of a tool's output that say something."""
    kept = [line for line in _NOISE.sub("", text).splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def free_port(taken: int = 0) -> int:
    """A free 127.0.0.1 port, preferably below the kernel's ephemeral range: a port from that
    range could be taken by some client's outgoing connection while a component restarts."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    picks = [random.randrange(10000, low) for _ in range(50)] if low > 11000 else []  # noqa: S311
    for port in [*picks, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            if sock.getsockname()[1] != taken:
                return int(sock.getsockname()[1])
    raise LocalSetupError("no free TCP port on 127.0.0.1")


def work_dir(path: Path | str | None, prefix: str) -> tuple[Path, bool]:
    """The component's work dir, and whether it is a temporary one of its own (deleted when
    the component is closed)."""
    if path:
        return Path(path), False
    return Path(tempfile.mkdtemp(prefix=prefix)), True


class ChildProcess:
    """One component process, its output appended to `log_path`.

    Started in a session of its own, so a Ctrl-C meant for us does not reach it before we stop
    it; and with SIGTERM sent to it if this process dies (PDEATHSIG follows the thread that
    spawned it, so only from the main thread), so a crashed test run leaves nothing behind.
    """

    def __init__(
        self,
        name: str,
        cmd: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        error: type[InfusionValidatorError] = LocalSetupError,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.error = error
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
        self._log: IO[bytes] | None = log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=log_path.parent, env=None if env is None else dict(env), start_new_session=True,
        )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        """Until `ready()`; a failure (with the log's tail) if the process exits first or
        `deadline` (monotonic) passes."""
        while not ready():
            if not self.alive:
                raise self.failure(f"{self.name} exited with code {self.proc.returncode} {what}")
            if time.monotonic() > deadline:
                raise self.failure(f"{self.name} not ready in time ({what})")
            time.sleep(0.2)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL if it is still alive after `grace` seconds."""
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", self.name, grace)
        self.kill()

    def kill(self) -> int:
        """SIGKILL (if still alive); its exit code."""
        if self.alive:
            self.proc.kill()
        code = self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def failure(self, message: str) -> InfusionValidatorError:
        return failure(self.name, self.log_path, message, self.error)


def failure(
    name: str, log_path: Path, message: str, error: type[InfusionValidatorError]
) -> InfusionValidatorError:
    """`message` (one line), then the tail of `name`'s log."""
    try:
        last = tail(log_path.read_text("utf-8", errors="replace"), 15)
    except OSError:
        last = f"(no {name} log)"
    return error(f"{message} (log: {log_path})\n{last}")


def http_ok(url: str) -> bool:
    """True when `url` answers 200 (a component's readiness endpoint)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class LocalComponent:
    """A component's lifecycle: `with` starts it (and cleans up if that fails); `close()` stops
    it and deletes its work dir when that is a temporary one of its own."""

    work_dir: Path
    _owns_dir: bool

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Served(Protocol):
    @property
    def running(self) -> bool: ...
    def start(self) -> None: ...
    def close(self) -> None: ...
    def failure(self, message: str) -> InfusionValidatorError: ...


def serve(component: Served, address: Callable[[], str]) -> int:
    """`python -m consumer.local.<component> start`: start it, print the one line a script
    reads (its address), and keep it running until SIGINT/SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        component.start()
        print(address(), flush=True)
        while not stop.wait(1.0):
            if not component.running:
                raise component.failure("it exited unexpectedly")
        return 0
    finally:
        component.close()
