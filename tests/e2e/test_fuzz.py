"""Random and malformed Redis objects against the apiserver, the CRD and the webhook.

Each object is either refused with a message (by the schema, a CEL rule or the webhook) or
accepted and then reconciled; the operator never crashes, and once the objects stop coming it
stops working: no pass runs and nothing is written.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devcluster.cluster import DevCluster
from devcluster.ports import free_port
from tests.e2e.operator import OPERATOR_USER
from tests.e2e.webhook import Register, Start, start_webhook
from tests.support.kube import AuditLog, Kubectl, wait_for

pytestmark = pytest.mark.e2e

ALLOWED_PREFIX = "redis:"

names = st.one_of(
    st.from_regex(r"[a-z]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["UPPER", "x" * 62, "-dash", "dot.ted", "a"]),
)
replicas = st.one_of(
    st.integers(min_value=-2, max_value=4),
    st.sampled_from([101, "3", 1.5, None, True]),
)
ports = st.one_of(
    st.integers(min_value=0, max_value=70000),
    st.sampled_from([333, 1234, 5000, 6379, 8333, 54321, "8333", None]),
)
images = st.one_of(
    st.sampled_from(
        ["redis:5-alpine", "redis:7-alpine", "", "Redis:Latest", "evil.io/redis:7", "redis:"]
    ),
    st.text(max_size=12),
)

# New fields come half valid, half not, so that some objects pass every rule. Valid amounts
# stay small and a valid nodeSelector matches the kwok nodes: an accepted Redis gets Ready pods.
_amounts = st.dictionaries(
    st.sampled_from(["cpu", "memory"]), st.sampled_from(["0", "10m", "0.01", 0, "1Ki"]), max_size=2
)
resources = st.one_of(
    st.fixed_dictionaries({}, optional={"requests": _amounts, "limits": _amounts}),
    st.sampled_from(
        [
            {"requests": {"cpu": "-1"}},
            {"limits": {"memory": "lots"}},
            {"requests": {"cpu": 0.5}},
            {"requests": {"storage": "1Gi"}},
            {"requests": {"example.com/gpu": 1}},
            {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Ki"}},
            {"requests": "1"},
            [],
            "1Gi",
        ]
    ),
)
node_selectors = st.sampled_from(
    [{}, {"type": "kwok"}, {"kubernetes.io/os": "linux"}, {"type": "no label"}, {"a b": "x"}, []]
)
_tolerations = st.sampled_from(
    [
        {"key": "k", "operator": "Exists"},
        {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30},
        {"operator": "Exists"},
    ]
)
_bad_tolerations = st.sampled_from(
    [
        {"key": "k", "operator": "Bogus"},
        {"key": "k", "operator": ""},
        {"key": "bad key!"},
        {"key": "k", "effect": "Never"},
        {"key": "k", "operator": "Exists", "value": "v"},
        {"value": "v"},
        {"key": "k", "tolerationSeconds": "30"},
        {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 30},
    ]
)
tolerations = st.one_of(
    st.lists(_tolerations, max_size=2), st.lists(_bad_tolerations, min_size=1, max_size=1)
)


@st.composite
def redis_objects(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    fields = (
        ("replicas", replicas),
        ("port", ports),
        ("image", images),
        ("resources", resources),
        ("nodeSelector", node_selectors),
        ("tolerations", tolerations),
    )
    for key, values in fields:
        if draw(st.booleans()) and (key in ("replicas", "port", "image") or draw(st.booleans())):
            spec[key] = draw(values)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        spec["unknownField"] = draw(st.integers())
    body: Any = spec
    if draw(st.integers(min_value=0, max_value=14)) == 0:
        body = draw(st.sampled_from([[1, 2], "spec", 7]))  # malformed: not an object
    return {
        "apiVersion": "myapp.tangx.in/v1",
        "kind": "Redis",
        "metadata": {"name": draw(names)},
        "spec": body,
    }


def _passes(metrics_port: int) -> float:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("redis_operator_reconcile_total{")
    )


def _reconciled(kubectl: Kubectl, namespace: str, name: str) -> bool:
    obj = kubectl.json("get", "redis", name, "-n", namespace)
    status = obj.get("status", {})
    want = obj["spec"]["replicas"]
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("replicas") == want
        and status.get("readyReplicas") == want
    )


def test_random_objects_are_refused_or_reconciled(
    cluster: DevCluster,
    kubectl: Kubectl,
    namespace: str,
    start_operator: Start,
    register_webhook: Register,
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    _, config = start_webhook(
        start_operator,
        tmp_path,
        f"--allowed-image-prefix={ALLOWED_PREFIX}",
        f"--metrics-address=127.0.0.1:{metrics_port}",
    )
    register_webhook(config)
    outcomes: dict[str, int] = {"refused": 0, "reconciled": 0}

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(obj=redis_objects())
    def throw(obj: dict[str, Any]) -> None:
        result = kubectl.run(
            "apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj), check=False
        )
        name = obj["metadata"]["name"]
        if result.returncode != 0:
            assert result.stderr.strip(), f"refused without a message: {obj}"
            assert re.search(r"invalid|denied|error|unknown field", result.stderr, re.I), (
                result.stderr
            )
            outcomes["refused"] += 1
            return
        wait_for(lambda: _reconciled(kubectl, namespace, name), f"{name} to be reconciled", 60)
        outcomes["reconciled"] += 1

    throw()
    assert outcomes["refused"] and outcomes["reconciled"], outcomes

    audit = AuditLog(cluster.layout.audit_log)
    time.sleep(5)  # let the last Events go out
    since, passes = audit.offset(), _passes(metrics_port)
    time.sleep(15)
    assert _passes(metrics_port) == passes, "the operator keeps running passes: a loop"
    assert audit.writes(OPERATOR_USER, since) == [], "the operator keeps writing"
