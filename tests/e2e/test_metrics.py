"""The operator's /metrics, /healthz and /readyz, scraped over loopback while it works."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devcluster.ports import free_port
from tests.e2e.operator import OperatorProcess
from tests.e2e.redis_objects import ordinals, redis, scale, wait_ready_pods, wait_status
from tests.support.kube import Kubectl, wait_for

pytestmark = pytest.mark.e2e

Start = Callable[..., OperatorProcess]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, ""  # not listening yet


class Scraper:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def samples(self) -> Samples:
        status, text = get(f"{self.base}/metrics")
        assert status == 200, (status, text)
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples().get((name, frozenset(labels.items())), -1.0)

    def wait(self, name: str, expected: float, **labels: str) -> None:
        wait_for(
            lambda: self.value(name, **labels) == expected,
            f"{name}{labels} == {expected}",
            timeout=60,
        )


def test_metrics_follow_create_and_scale(
    kubectl: Kubectl, namespace: str, start_operator: Start
) -> None:
    port = free_port()
    start_operator(f"--metrics-address=127.0.0.1:{port}")
    scraper = Scraper(port)
    # Ready once the initial listing is done; alive all along.
    wait_for(lambda: get(f"{scraper.base}/readyz")[0] == 200, "/readyz to answer 200")
    assert get(f"{scraper.base}/healthz") == (200, "ok")
    status, text = get(f"{scraper.base}/readyz?verbose")
    assert status == 200 and "[+]synced ok" in text, text
    assert scraper.value("redis_operator_pods_created_total") == 0
    assert scraper.value("redis_operator_workqueue_depth") >= 0

    kubectl.apply(redis(), "-n", namespace)
    wait_ready_pods(kubectl, namespace, ordinals(2))
    scraper.wait("redis_operator_pods_created_total", 2)
    scraper.wait("redis_operator_services_created_total", 1)
    samples = scraper.samples()

    def at(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), -1.0)

    assert at("redis_operator_reconcile_total", outcome="acted") > 0
    assert at("redis_operator_reconcile_duration_seconds_count", outcome="acted") > 0
    assert at("redis_operator_pods_deleted_total") == 0
    assert at("redis_operator_child_write_failures_total", kind="pod", verb="create") == 0
    # The event recorder's counters are on the same endpoint: ScalingUp, 2 pods, 1 Service.
    assert at("event_recorder_events_recorded_total", type="Normal") >= 4
    assert at("event_recorder_api_writes_total", verb="create", result="success") >= 4
    assert at("process_resident_memory_bytes") > 0

    scale(kubectl, namespace, 3)
    wait_ready_pods(kubectl, namespace, ordinals(3))
    scraper.wait("redis_operator_pods_created_total", 3)

    scale(kubectl, namespace, 1)
    wait_ready_pods(kubectl, namespace, ordinals(1))
    scraper.wait("redis_operator_pods_deleted_total", 2)
    assert scraper.value("event_recorder_events_recorded_total", type="Warning") >= 1  # Down

    # Back to 3: ScalingUp "set to 3" and "Created pod: my-op-redis-{1,2}" repeat earlier
    # Events, so the recorder counts them up on the existing Events with PATCHes.
    scale(kubectl, namespace, 3)
    wait_ready_pods(kubectl, namespace, ordinals(3))
    scraper.wait("redis_operator_pods_created_total", 5)
    wait_for(
        lambda: (
            scraper.value("event_recorder_api_writes_total", verb="patch", result="success") >= 3
        ),
        "Event PATCHes counted",
    )
    assert scraper.value("event_recorder_events_deduplicated_total") >= 3
    assert scraper.value("redis_operator_pods_recreated_total") == 0

    # A pod deleted by someone else comes back, and is counted as recreated: once the scale
    # is acknowledged (before that, a missing pod may be one the change has yet to create).
    wait_status(kubectl, namespace, replicas=3, ready=3)
    kubectl("delete", "pod", "my-op-redis-0", "-n", namespace)
    scraper.wait("redis_operator_pods_recreated_total", 1)
    scraper.wait("redis_operator_pods_created_total", 6)
    assert scraper.value("redis_operator_pods_deleted_total") == 2  # not by the operator
