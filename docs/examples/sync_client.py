"""A synchronous controller (the official ``kubernetes`` client) recording Events as it scales.

    pip install 'kubernetes-event-recorder[kubernetes]'
    python docs/examples/sync_client.py NAMESPACE DEPLOYMENT 3 1 3

Each step patches the Deployment's replicas and records ScalingUp or ScalingDown; recording
returns at once, the writes go out from the broadcaster's own thread, and leaving the ``with``
block drains them. ``kubectl describe deployment DEPLOYMENT`` then shows
``Normal  ScalingUp  2s (x2 over 2s)  SyncScaler  replicas set to 3``.
"""

from __future__ import annotations

import socket
import sys

from kubernetes import client, config

from event_recorder import BackgroundBroadcaster

COMPONENT = "SyncScaler"


def scale(namespace: str, name: str, steps: list[int]) -> None:
    config.load_kube_config()  # $KUBECONFIG or ~/.kube/config
    api = client.ApiClient()
    apps = client.AppsV1Api(api)
    with BackgroundBroadcaster(api) as events:
        host = socket.gethostname()
        events.learn_existing(COMPONENT, host)  # continue the counts of an earlier run
        recorder = events.new_recorder(COMPONENT, host)
        for replicas in steps:
            current = apps.read_namespaced_deployment(name, namespace)
            apps.patch_namespaced_deployment(name, namespace, {"spec": {"replicas": replicas}})
            reason = "ScalingUp" if replicas > (current.spec.replicas or 0) else "ScalingDown"
            recorder.eventf(current, "Normal", reason, "replicas set to %d", replicas)


if __name__ == "__main__":
    scale(sys.argv[1], sys.argv[2], [int(step) for step in sys.argv[3:]])
