"""A real Kubernetes API server (kube-apiserver + etcd) on loopback, for `helm install` tests.

The binaries come from the tool cache (`make setup` runs `.ci/tools.sh`: kube-apiserver built
from the Go module proxy, etcd from Debian's etcd-server package); the CRDs of the chart's
custom resources from `<cache>/crds`. There is no kubelet, scheduler or controller-manager:
objects are stored and validated (built-in kinds and CRD schemas, admission), but no pod ever
runs, no Deployment/StatefulSet controller acts and nothing is garbage-collected.

    with LocalKubeAPI() as kube:          # temp work dir, free loopback ports
        kube.kubeconfig                   # a kubeconfig file for helm (static admin token)
        kube.apply_crds(crd_files())      # POST each CRD and wait until it is Established
        kube.get("/api/v1/namespaces")

CLI: `python -m consumer.local.k8s start` runs one in the foreground and prints the kubeconfig
path (with the CRDs installed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from consumer.cachedir import cache_root
from consumer.errors import LocalSetupError
from consumer.local.process import ChildProcess, LocalComponent, free_port, http_ok
from consumer.local.process import work_dir as work_dir_of

log = logging.getLogger(__name__)

_SETUP_HINT = "run `make setup` (it builds or fetches it into the tool cache)"


def tool(name: str) -> str:
    """The cached binary `name` (the pinned version), else one on PATH."""
    cached = cache_root() / "bin" / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    found = shutil.which(name)
    if found is None:
        raise LocalSetupError(f"`{name}` not found in {cached.parent} nor on PATH: {_SETUP_HINT}")
    return found


def crd_files() -> list[Path]:
    """The cached CRD files (KEDA's and prometheus-operator's)."""
    found = sorted((cache_root() / "crds").glob("*.yaml"))
    if not found:
        raise LocalSetupError(f"no CRDs in {cache_root() / 'crds'}: {_SETUP_HINT}")
    return found


class LocalKubeAPI(LocalComponent):
    """etcd and kube-apiserver subprocesses sharing one work dir (logs, data, keys)."""

    def __init__(self, work_dir: Path | str | None = None, *, startup_timeout: float = 90.0):
        self.startup_timeout = startup_timeout
        self.work_dir, self._owns_dir = work_dir_of(work_dir, "localk8s-")
        self.kubeconfig = self.work_dir / "kubeconfig"
        self.token = secrets.token_hex(16)
        self.server = ""
        self._etcd: ChildProcess | None = None
        self._apiserver: ChildProcess | None = None
        self._tls: ssl.SSLContext | None = None
        self.started_in = 0.0

    def start(self) -> None:
        """Start etcd, then the API server; return when `/readyz` says ok."""
        started = time.monotonic()
        deadline = started + self.startup_timeout
        etcd, apiserver = tool("etcd"), tool("kube-apiserver")
        openssl = shutil.which("openssl")
        if openssl is None:
            raise LocalSetupError("`openssl` not found on PATH (Debian: apt-get install openssl)")
        work = self.work_dir
        (work / "certs").mkdir(parents=True, exist_ok=True)
        client, peer, secure = free_port(), free_port(), free_port()
        self._etcd = ChildProcess("etcd", [
            etcd, "--name=local", f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=local=http://127.0.0.1:{peer}",
        ], work / "etcd.log")  # fmt: skip
        # The service-account token signer needs a key pair even though no pod ever asks.
        key = work / "service-account.key"
        done = subprocess.run(  # noqa: S603
            [openssl, "genrsa", "-out", str(key), "2048"], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise LocalSetupError(f"openssl genrsa failed: {done.stderr.decode()[-200:]}")
        (work / "tokens.csv").write_text(f"{self.token},admin,admin,system:masters\n", "utf-8")
        self._etcd.wait_ready(
            lambda: http_ok(f"http://127.0.0.1:{client}/health"), deadline, "during start-up"
        )
        self._apiserver = ChildProcess("kube-apiserver", [
            apiserver, f"--etcd-servers=http://127.0.0.1:{client}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={secure}", f"--cert-dir={work / 'certs'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
            f"--token-auth-file={work / 'tokens.csv'}", "--authorization-mode=AlwaysAllow",
            # Admission that needs a controller-manager to be satisfied would refuse objects.
            "--disable-admission-plugins=ServiceAccount",
        ], work / "kube-apiserver.log")  # fmt: skip
        self.server = f"https://127.0.0.1:{secure}"
        certificate = work / "certs" / "apiserver.crt"  # self-signed, written at start-up
        self._apiserver.wait_ready(certificate.is_file, deadline, "making its certificate")
        self._tls = ssl.create_default_context(cafile=str(certificate))
        self._apiserver.wait_ready(lambda: self._readyz() == "ok", deadline, "during start-up")
        self._write_kubeconfig(certificate)
        self.started_in = time.monotonic() - started
        log.info("kube-apiserver ready at %s in %.1fs", self.server, self.started_in)

    def _readyz(self) -> str:
        try:
            return self.request("GET", "/readyz").decode()
        except (OSError, urllib.error.URLError):
            return ""

    def _write_kubeconfig(self, certificate: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": self.server,
                                              "certificate-authority": str(certificate)}}
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
        }  # fmt: skip
        self.kubeconfig.write_text(yaml.safe_dump(config), "utf-8")
        self.kubeconfig.chmod(0o600)

    def request(self, method: str, path: str, body: Any = None) -> bytes:
        """One API call as the admin; raises urllib.error.HTTPError on a refusal."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 (our own loopback server)
            self.server + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30, context=self._tls) as answer:  # noqa: S310
            return bytes(answer.read())

    def get(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def exists(self, path: str) -> bool:
        try:
            self.request("GET", path)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def apply_crds(self, files: Iterable[Path], timeout: float = 60.0) -> list[str]:
        """Create each CRD (once) and wait until the API server serves it; returns the names."""
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        names = []
        for path in files:
            for crd in yaml.safe_load_all(path.read_text("utf-8")):
                if not crd:
                    continue
                name = crd["metadata"]["name"]
                if not self.exists(f"{base}/{name}"):
                    self.request("POST", base, crd)
                names.append(name)
        deadline = time.monotonic() + timeout
        for name in names:
            while not _established(self.get(f"{base}/{name}")):
                if time.monotonic() > deadline:
                    raise LocalSetupError(f"CRD {name} not Established within {timeout:.0f}s")
                time.sleep(0.2)
        return names

    def stop(self) -> None:
        for process in (self._apiserver, self._etcd):
            if process is not None:
                process.stop(15.0)
        self._apiserver = self._etcd = None


def _established(crd: dict[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.local.k8s", description=__doc__)
    parser.add_argument("command", choices=["start"])
    parser.add_argument("--dir", type=Path, help="work dir to keep (default: temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with LocalKubeAPI(args.dir) as kube:
            kube.apply_crds(crd_files())
            print(kube.kubeconfig, flush=True)  # the one line a script reads
            stop.wait()
    except LocalSetupError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
