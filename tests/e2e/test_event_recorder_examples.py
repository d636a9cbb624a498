"""The recorder as its users get it, against a real API server: the wheel alone, the examples.

The recorder's wheel is installed alone into a fresh venv and records an Event that
``kubectl get events`` shows; the kopf operator and the synchronous-client program of
docs/examples/ run as their docstrings say, and ``kubectl describe`` shows their Events.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devcluster.cluster import DevCluster
from tests.support.kube import EventRow, Kubectl, describe_events, wait_for
from tests.support.wheels import REPO, build_wheel, fresh_venv

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "docs" / "examples"
DEPLOYMENT = "web"
TIMEOUT = 60.0
_COUNT = re.compile(r"\(x(\d+) over ")

# Run by the fresh venv's python: the Event about a ConfigMap, twice, through kubernetes_asyncio.
RECORD = """
import asyncio, sys
from kubernetes_asyncio import client, config
from event_recorder import EventBroadcaster

async def main(namespace, name):
    configuration = client.Configuration()
    await config.load_kube_config(client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        config_map = await client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
        async with EventBroadcaster(api) as broadcaster:
            recorder = broadcaster.new_recorder("WheelCheck", "fresh-venv")
            for _ in range(2):
                recorder.event(config_map, "Normal", "Installed", "recorded by the wheel alone")

asyncio.run(main(*sys.argv[1:]))
"""


def count(row: EventRow) -> int:
    match = _COUNT.search(row.age)
    return int(match[1]) if match else 1


def environment(cluster: DevCluster) -> dict[str, str]:
    """This environment on the cluster's admin kubeconfig, with no Python path of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    return env


def wait_for_rows(
    kubectl: Kubectl, namespace: str, ready: Callable[[list[EventRow]], bool], what: str
) -> list[EventRow]:
    """Poll ``kubectl describe deployment`` until its Events table satisfies ``ready``."""
    seen: list[EventRow] = []

    def check() -> list[EventRow] | None:
        nonlocal seen
        seen = describe_events(kubectl("describe", "deployment", DEPLOYMENT, "-n", namespace))
        return seen if ready(seen) else None

    try:
        rows: list[EventRow] = wait_for(check, what, TIMEOUT)
    except AssertionError as error:
        table = "\n".join(row.line for row in seen) or "<none>"
        raise AssertionError(f"{error}\nlast Events table:\n{table}") from None
    return rows


def row(rows: list[EventRow], source: str, reason: str, message: str) -> EventRow | None:
    return next(
        (r for r in rows if (r.source, r.reason, r.message) == (source, reason, message)), None
    )


def has(source: str, reason: str, message: str, times: int = 1) -> Callable[[list[EventRow]], bool]:
    def ready(rows: list[EventRow]) -> bool:
        found = row(rows, source, reason, message)
        return found is not None and count(found) == times

    return ready


@pytest.fixture
def deployment(kubectl: Kubectl, namespace: str) -> str:
    kubectl("create", "deployment", DEPLOYMENT, "--image=redis:7", "--replicas=1", "-n", namespace)
    return DEPLOYMENT


def scale(kubectl: Kubectl, namespace: str, replicas: int) -> None:
    kubectl("scale", "deployment", DEPLOYMENT, f"--replicas={replicas}", "-n", namespace)


def test_the_wheel_alone_records_an_event_kubectl_shows(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    kubectl("create", "configmap", "settings", "--from-literal=k=v", "-n", namespace)
    wheel = build_wheel(REPO / "event-recorder", tmp_path)
    python = fresh_venv(tmp_path / "venv", wheel, extras=("asyncio",))

    proc = subprocess.run(
        [str(python), "-I", "-c", RECORD, namespace, "settings"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(cluster),
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    table = kubectl("get", "events", "-n", namespace)
    print(table)
    assert "recorded by the wheel alone" in table
    (event,) = kubectl.json("get", "events", "-n", namespace, "--field-selector=reason=Installed")[
        "items"
    ]
    assert event["count"] == 2
    assert event["source"] == {"component": "WheelCheck", "host": "fresh-venv"}
    assert event["involvedObject"]["kind"] == "ConfigMap"


@pytest.fixture
def kopf_operator(cluster: DevCluster, namespace: str, tmp_path: Path) -> Iterator[Path]:
    """The kopf example running on the test's namespace; its log file. Stopped with SIGTERM."""
    log = tmp_path / "kopf.log"
    command = [sys.executable, "-m", "kopf", "run", str(EXAMPLES / "kopf_operator.py")]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--standalone", "--namespace", namespace],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment(cluster),
            cwd=tmp_path,
        )
    try:
        yield log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        print(log.read_text()[-4000:])
    assert code == 0, log.read_text()[-4000:]
    assert "Traceback" not in log.read_text()


def test_the_kopf_example_records_scaling_up_x2(
    kubectl: Kubectl, namespace: str, deployment: str, kopf_operator: Path
) -> None:
    def handled() -> bool:
        meta = kubectl.json("get", "deployment", deployment, "-n", namespace)["metadata"]
        return "kopf.zalando.org/last-handled-configuration" in (meta.get("annotations") or {})

    wait_for(handled, "the kopf example to handle the Deployment's creation", TIMEOUT)
    source = "ScalerOperator"
    up = (source, "ScalingUp", "replicas set to 3")

    scale(kubectl, namespace, 3)
    wait_for_rows(kubectl, namespace, has(*up), "ScalingUp to 3")
    scale(kubectl, namespace, 1)
    wait_for_rows(kubectl, namespace, has(source, "ScalingDown", "replicas set to 1"), "down")
    scale(kubectl, namespace, 3)
    rows = wait_for_rows(kubectl, namespace, has(*up, times=2), "ScalingUp to 3, x2")

    for shown in rows:
        print(f"  {shown.line}")
    found = row(rows, *up)
    assert found is not None and found.type == "Normal"


def test_the_sync_client_example_records_scaling_up_x2(
    cluster: DevCluster, kubectl: Kubectl, namespace: str, deployment: str
) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "sync_client.py"), namespace, deployment, "3", "1", "3"],
        capture_output=True,
        text=True,
        env=environment(cluster),
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    source = "SyncScaler"
    rows = wait_for_rows(
        kubectl,
        namespace,
        lambda rows: (
            has(source, "ScalingUp", "replicas set to 3", times=2)(rows)
            and has(source, "ScalingDown", "replicas set to 1")(rows)
        ),
        "ScalingUp to 3 x2 and ScalingDown to 1",
    )
    for shown in rows:
        print(f"  {shown.line}")
    replicas = kubectl.json("get", "deployment", deployment, "-n", namespace)["spec"]["replicas"]
    assert replicas == 3
