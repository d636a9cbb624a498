"""Running the operator under test: a real ``redis-operator run`` process, non-admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from redis_operator import api
from redis_operator.manifests import NAME, NAMESPACE
from tests.support.kube import Kubectl

REPO = Path(__file__).resolve().parents[2]

#: The operator authenticates as its ServiceAccount's user name, so the RBAC in deploy/
#: (bound to that ServiceAccount) is exactly what it gets.
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
OPERATOR_GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}")


def install_deploy(kubectl: Kubectl) -> None:
    """deploy/'s namespace, CRD and RBAC, the CRD established (idempotent)."""
    manifests = [REPO / "deploy" / "base" / m for m in ("namespace.yaml", "crd.yaml", "rbac.yaml")]
    kubectl("apply", *(arg for m in manifests for arg in ("-f", str(m))))
    kubectl("wait", "--for=condition=Established", f"crd/{api.CRD_NAME}", "--timeout=60s")


def assert_log_clean(log: str) -> None:
    """The operator logged no authorization error (deploy/'s RBAC sufficed) and no crash."""
    assert "forbidden" not in log.lower(), f"operator hit RBAC limits:\n{log[-3000:]}"
    assert "Traceback" not in log, f"operator logged a traceback:\n{log[-3000:]}"


class OperatorProcess:
    """``redis-operator run`` in a subprocess, with its log captured to a file."""

    def __init__(self, kubeconfig: Path, log_path: Path, *extra_args: str) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redis_operator.cli",
                "run",
                f"--kubeconfig={self.kubeconfig}",
                # Not the default :8080 on every interface: loopback, a free port per operator
                # (a test that scrapes passes its own --metrics-address: the last one wins).
                "--metrics-address=127.0.0.1:0",
                *self.extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no draining, like a crash."""
        self.stop(signal.SIGKILL)

    def restart(self, *extra_args: str) -> None:
        self.stop()
        if extra_args:
            self.extra_args = extra_args
        self.start()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


#: The ``start_operator`` fixture: extra ``redis-operator run`` flags in, a running process out.
Start = Callable[..., OperatorProcess]
