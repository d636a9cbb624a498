"""Benchmark of the operator as its Deployment on the real node: install, failover, rollout.

Run as root from the repository's root with ``python -m benchmarks.bench_in_cluster [--runs N]``
(it uses the e2e tests' helpers); it prints figures and asserts nothing. Each run starts a
cluster of its own with the real node, builds the operator's image (BuildKit's cache: warm
after the first) and imports it, then times:

- install: ``kubectl apply -k deploy/dev`` -> both replicas Ready by the kubelet's probes
  (``rollout status``);
- failover: the leader pod deleted (SIGTERM: it releases the Lease) -> the other replica holds
  the Lease, and -> its first pass has created the pod of a scale made right after the delete;
- rollout: ``kubectl set image`` to a second local tag -> both new replicas Ready, old ones gone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from tests.e2e.in_cluster import (
    DEPLOYMENT,
    holder_pod,
    install,
    kubectl_of,
    operator_image,
    operator_pods,
    real_cluster,
    redis_image,
    rolled_out,
    tag_image,
    wait_leader,
)
from tests.e2e.redis_objects import ordinals, redis, scale, wait_ready_pods
from tests.support.kube import Kubectl, wait_for

from redis_operator import manifests


def _poll(condition: object, what: str, timeout: float = 120) -> None:
    """Until ``condition()`` holds, polled every 50 ms."""
    wait_for(condition, what, timeout, interval=0.05)


def one_run() -> dict[str, float]:
    figures: dict[str, float] = {}
    with real_cluster(os.getpid()) as cluster:
        kubectl = kubectl_of(cluster)
        started = time.monotonic()
        image = operator_image(cluster)
        figures["image build (warm) + import"] = time.monotonic() - started

        started = time.monotonic()
        install(kubectl)
        rolled_out(kubectl)
        figures["apply -> both replicas Ready"] = time.monotonic() - started
        leader = wait_leader(kubectl, set(operator_pods(kubectl)))

        kubectl.create_namespace("bench")
        kubectl.apply(redis(replicas=1, image=redis_image(cluster)), "-n", "bench")
        wait_ready_pods(kubectl, "bench", ordinals(1))
        started = time.monotonic()
        kubectl("delete", "pod", leader, "-n", manifests.NAMESPACE, "--wait=false")
        scale(kubectl, "bench", 2)
        _poll(lambda: holder_pod(kubectl) not in (None, leader), "a new leader")
        figures["leader pod deleted -> new leader"] = time.monotonic() - started
        _poll(lambda: _exists(kubectl, "my-op-redis-1"), "the new leader's first pass")
        figures["leader pod deleted -> its first pass created the pod"] = time.monotonic() - started
        rolled_out(kubectl)

        new_image = image + "-rollout"
        tag_image(cluster, image, new_image)
        old = set(operator_pods(kubectl))
        started = time.monotonic()
        kubectl("set", "image", DEPLOYMENT, f"operator={new_image}", "-n", manifests.NAMESPACE)
        _poll(lambda: _rolled_to(kubectl, new_image, old), "the rollout", 300)
        figures["rolling update (set image -> 2 new Ready, old gone)"] = time.monotonic() - started
    return figures


def _exists(kubectl: Kubectl, pod: str) -> bool:
    return kubectl.run("get", "pod", pod, "-n", "bench", check=False).returncode == 0


def _rolled_to(kubectl: Kubectl, image: str, old: set[str]) -> bool:
    deployment = kubectl.json("get", DEPLOYMENT, "-n", manifests.NAMESPACE)
    status = deployment["status"]
    current = operator_pods(kubectl)
    images = {p["spec"]["containers"][0]["image"] for p in current.values()}
    return bool(
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("replicas") == 2
        and status.get("availableReplicas") == 2
        and images == {image}
        and not old & set(current)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="clusters to run it on, in turn")
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    for run in range(args.runs):
        figures = one_run()
        runs.append(figures)
        print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in figures.items()))
    for what in runs[0]:
        values = [r[what] for r in runs]
        print(
            f"{what}: median {statistics.median(values):.2f}s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )


if __name__ == "__main__":
    main()
