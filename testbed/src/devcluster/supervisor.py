"""The background process that owns a local cluster's components.

Every component is started with a parent-death signal, so killing the supervisor (even with
SIGKILL) takes the whole control plane with it; the supervisor in turn stops everything when the
process that asked for the cluster (``--owner-pid``, e.g. a pytest run) goes away. That is how
"nothing is left running even when a test run crashes" holds.

Run as ``python -m devcluster.supervisor STATE_DIR``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from devcluster import realnode
from devcluster.components import Component, components, fake_node
from devcluster.layout import Layout, Settings
from devcluster.rest import Endpoint
from devcluster.teardown import teardown

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 10.0
_STEP_TIMEOUT_SECONDS = 120.0
#: A component that crashes is restarted, like a kubelet restarts static pods; one that keeps
#: crashing this often within a minute brings the cluster down instead of flapping forever.
_MAX_RESTARTS_PER_MINUTE = 5


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL the child when the supervisor dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _terminate_with_parent() -> None:
    """preexec_fn of the janitor: SIGTERM (which it handles) when the supervisor dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def pid_alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def admin_endpoint(layout: Layout, settings: Settings) -> Endpoint:
    pki = layout.pki
    return Endpoint(
        settings.ports.apiserver,
        pki / "ca.crt",
        pki / "admin.crt",
        pki / "admin.key",
        settings.apiserver_host,
    )


class Supervisor:
    """Starts the components in order, watches them and the owner, stops them all at the end."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.settings = Settings.load(layout.settings)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.reconfigure = False
        self.restarts: dict[str, list[float]] = {}
        self.janitor: subprocess.Popen[bytes] | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self.reconfigure = True

    def _stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        del self.procs[name]
        self.layout.pid_file(name).unlink(missing_ok=True)
        self._log(f"stopped {name}")

    def _apply_control(self) -> None:
        """Stop the components ``dev-cluster stop-component`` asked for, start the others."""
        self.reconfigure = False
        wanted_stopped = self.layout.stopped_components()
        for component in components(self.layout, self.settings):
            if component.name in wanted_stopped:
                self._stop(component.name)
            elif component.name not in self.procs:
                self.start(component)

    def _watch(self) -> None:
        """Restart crashed components (unless asked to stay stopped)."""
        for component in components(self.layout, self.settings):
            proc = self.procs.get(component.name)
            if proc is None or proc.poll() is None:
                continue
            self._log(f"{component.name} exited with {proc.returncode}; restarting it")
            del self.procs[component.name]
            now = time.monotonic()
            recent = [t for t in self.restarts.get(component.name, []) if now - t < 60]
            self.restarts[component.name] = [*recent, now]
            if len(recent) >= _MAX_RESTARTS_PER_MINUTE:
                self._log(f"{component.name} keeps crashing; stopping the cluster")
                self.stopping = True
                return
            self.start(component)

    def _log(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    def _should_stop(self) -> bool:
        owner = self.settings.owner_pid
        if owner is not None and not pid_alive(owner):
            self._log(f"owner process {owner} is gone; stopping")
            self.stopping = True
        return self.stopping

    def start(self, component: Component) -> None:
        log = self.layout.log_file(component.name).open("ab")
        proc = subprocess.Popen(
            component.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            env=component.env,
        )
        log.close()
        self.procs[component.name] = proc
        self.layout.pid_file(component.name).write_text(str(proc.pid))
        self._log(f"started {component.name} (pid {proc.pid})")

    def _wait(self, what: str, check: object) -> None:
        deadline = time.monotonic() + _STEP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._should_stop():
                raise SystemExit(1)
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode} while waiting for {what}; "
                        f"see {self.layout.log_file(name)}"
                    )
            try:
                if callable(check) and check():
                    self._log(f"{what}: ok")
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {_STEP_TIMEOUT_SECONDS:.0f}s waiting for {what}")

    def _etcd_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.settings.ports.etcd_client}/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return b'"true"' in resp.read()

    def _apiserver_ready(self) -> bool:
        status, _ = admin_endpoint(self.layout, self.settings).request("GET", "/readyz")
        return status == 200

    def _nodes_ready(self) -> bool:
        _, body = admin_endpoint(self.layout, self.settings).request("GET", "/api/v1/nodes")
        items = body.get("items", []) if isinstance(body, dict) else []
        ready = [
            n
            for n in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) >= self.settings.nodes + self.settings.real_nodes

    def _default_service_account(self) -> bool:
        status, _ = admin_endpoint(self.layout, self.settings).request(
            "GET", "/api/v1/namespaces/default/serviceaccounts/default"
        )
        return status == 200

    def _create_nodes(self) -> None:
        endpoint = admin_endpoint(self.layout, self.settings)
        for i in range(self.settings.nodes):
            node = fake_node(f"kwok-node-{i}", tainted=self.settings.node is not None)
            status, body = endpoint.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise RuntimeError(f"creating node kwok-node-{i}: {status} {body}")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hangup)
        self.layout.supervisor_pid.write_text(str(os.getpid()))
        try:
            if self.settings.node is not None:
                self._start_janitor()
                realnode.bridge_up()
            for component in components(self.layout, self.settings):
                self.start(component)
                if component.name == "etcd":
                    self._wait("etcd health", self._etcd_healthy)
                elif component.name == "kube-apiserver":
                    self._wait("kube-apiserver /readyz", self._apiserver_ready)
                elif component.name == "containerd":
                    self._wait("containerd's socket", self._containerd_ready)
                    self._import_images()
            self._create_nodes()
            self._wait(f"{self.settings.nodes} Ready node(s)", self._nodes_ready)
            self._wait("the default ServiceAccount", self._default_service_account)
            self.layout.ready_marker.write_text(str(os.getpid()))
            self._log("cluster ready")
            while not self._should_stop():
                if self.reconfigure:
                    self._apply_control()
                self._watch()
                time.sleep(0.2)
            return 0
        except (RuntimeError, SystemExit) as exc:
            self._log(f"failed: {exc}")
            return 1
        finally:
            self.stop_all()

    def _start_janitor(self) -> None:
        """The process that tears the real node down should the supervisor die (SIGKILL)."""
        self.janitor = subprocess.Popen(
            [sys.executable, "-m", "devcluster.janitor", str(self.layout.root)],
            stdin=subprocess.DEVNULL,
            stdout=self.layout.log_file("janitor").open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=_terminate_with_parent,
        )
        self.layout.janitor_pid.write_text(str(self.janitor.pid))

    def _containerd_ready(self) -> bool:
        assert self.settings.node is not None
        ctr = self.settings.node.binaries.ctr
        socket = realnode.NodeFiles(self.layout.node).containerd_socket
        return (
            socket.exists()
            and subprocess.run(
                [str(ctr), f"--address={socket}", "version"], capture_output=True, check=False
            ).returncode
            == 0
        )

    def _import_images(self) -> None:
        assert self.settings.node is not None
        node = self.settings.node
        files = realnode.NodeFiles(self.layout.node)
        realnode.import_images(node.binaries.ctr, files, list(node.image_archives))
        self._log("images imported: " + ", ".join((node.pause_image, node.redis_image)))

    def stop_all(self) -> None:
        """SIGTERM in reverse start order, then SIGKILL whatever outlives the grace period;
        then tear the real node down (containers, mounts, cgroups, bridge)."""
        self.layout.ready_marker.unlink(missing_ok=True)
        for name in reversed(list(self.procs)):
            self._stop(name)
        if self.settings.node is not None:
            try:
                teardown(self.layout.root)
                self._log("real node torn down")
            except RuntimeError as exc:
                self._log(f"teardown incomplete: {exc}")
            if self.janitor is not None:
                self.janitor.kill()
                self.janitor.wait()
                self.layout.janitor_pid.unlink(missing_ok=True)


def main() -> int:
    return Supervisor(Layout(Path(sys.argv[1]))).run()


if __name__ == "__main__":
    sys.exit(main())
