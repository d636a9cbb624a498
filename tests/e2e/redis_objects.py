"""Helpers for the operator's tests: Redis manifests; waiting on its pods, status and Events."""

from __future__ import annotations

import base64
from typing import Any

from tests.support.kube import EventRow, Kubectl, describe_events, wait_for


def redis(name: str = "my-op-redis", replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "image": "redis:5-alpine", "port": 8333, **spec},
    }


def auth_password(kubectl: Kubectl, namespace: str, name: str = "my-op-redis") -> str:
    """The password the operator generated into the Secret `<name>-auth`."""
    secret = kubectl.json("get", "secret", f"{name}-auth", "-n", namespace)
    return base64.b64decode(secret["data"]["password"]).decode()


def pods(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    items = kubectl.json("get", "pods", "-n", namespace)["items"]
    return {p["metadata"]["name"]: p for p in items}


def is_ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def wait_ready_pods(
    kubectl: Kubectl, namespace: str, names: set[str], timeout: float = 90
) -> dict[str, dict[str, Any]]:
    def check() -> dict[str, dict[str, Any]] | None:
        current = pods(kubectl, namespace)
        ready = {n for n, p in current.items() if is_ready(p)}
        return current if set(current) == names and ready == names else None

    result: dict[str, dict[str, Any]] = wait_for(
        check, f"exactly the Ready pods {sorted(names)}", timeout
    )
    return result


def ordinals(n: int, name: str = "my-op-redis") -> set[str]:
    return {f"{name}-{i}" for i in range(n)}


def events(kubectl: Kubectl, namespace: str, name: str = "my-op-redis") -> list[EventRow]:
    return describe_events(kubectl("describe", "redis", name, "-n", namespace))


def find(rows: list[EventRow], reason: str, message: str) -> EventRow | None:
    return next((r for r in rows if r.reason == reason and r.message == message), None)


def wait_event(
    kubectl: Kubectl, namespace: str, reason: str, message: str, age: str = ""
) -> EventRow:
    """Wait for a describe row with this reason and message (and ``age`` in its Age)."""

    def check() -> EventRow | None:
        row = find(events(kubectl, namespace), reason, message)
        return row if row is not None and age in row.age else None

    row: EventRow = wait_for(check, f"event {reason} {message!r} {age}".strip(), 60)
    return row


def wait_status(kubectl: Kubectl, namespace: str, replicas: int, ready: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = kubectl.json("get", "redis", "my-op-redis", "-n", namespace)
        status = obj.get("status", {})
        done = (
            status.get("replicas") == replicas
            and status.get("readyReplicas") == ready
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )
        return obj if done else None

    obj: dict[str, Any] = wait_for(check, f"status replicas={replicas} ready={ready}", 90)
    return obj


def scale(kubectl: Kubectl, namespace: str, replicas: int) -> None:
    kubectl("scale", "redis/my-op-redis", f"--replicas={replicas}", "-n", namespace)


def scale_story(kubectl: Kubectl, namespace: str, **spec: Any) -> None:
    """The seed's story: create with 2 replicas, then scale 2 -> 3 -> 1 -> 3, each step
    converged."""
    kubectl.apply(redis(**spec), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    for replicas in (3, 1, 3):
        scale(kubectl, namespace, replicas)
        wait_ready_pods(kubectl, namespace, ordinals(replicas))
        wait_status(kubectl, namespace, replicas, replicas)
