"""A kopf operator recording Events with event_recorder: ScalingUp / ScalingDown on Deployments.

    pip install 'kubernetes-event-recorder[kopf]'
    kopf run docs/examples/kopf_operator.py --standalone --namespace default

Scale a Deployment 1 -> 3 -> 1 -> 3 and ``kubectl describe deployment`` shows
``Normal  ScalingUp  5s (x2 over 40s)  ScalerOperator  replicas set to 3``.
"""

from __future__ import annotations

from typing import Any

import kopf

import event_recorder.kopf

event_recorder.kopf.setup(component="ScalerOperator")


@kopf.on.field("apps", "v1", "deployments", field="spec.replicas")
def replicas_changed(body: kopf.Body, old: Any, new: Any, memo: kopf.Memo, **_: Any) -> None:
    reason = "ScalingUp" if new > (old or 0) else "ScalingDown"
    memo.recorder.eventf(body, "Normal", reason, "replicas set to %d", new)
