"""The recorder's own distribution: its wheel alone, in a fresh venv, records an Event."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.wheels import REPO, build_wheel, fresh_venv, wheel_requirements

PROJECT = REPO / "event-recorder"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(PROJECT, tmp_path_factory.mktemp("wheel"))


# Runs in the fresh venv: the recorder is the wheel's, no API client or operator is there, and
# an Event recorded twice is written once and patched once.
RECORD = """
import asyncio, importlib.util, json
import event_recorder
from event_recorder import EventBroadcaster, InMemorySink

present = [m for m in ("redis_operator", "kopf", "kubernetes", "kubernetes_asyncio")
          if importlib.util.find_spec(m) is not None]

async def main():
    sink = InMemorySink()
    async with EventBroadcaster(sink) as broadcaster:
        recorder = broadcaster.new_recorder("ScalerOperator", "host-1")
        obj = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default", "uid": "u-1"}}
        for _ in range(2):
            recorder.eventf(obj, "Normal", "ScalingUp", "replicas set to %d", 3)
    return [c.verb.value for c in sink.calls], list(sink.events.values())

verbs, events = asyncio.run(main())
print(json.dumps({"file": event_recorder.__file__, "present": present,
                  "verbs": verbs, "events": events}))
"""


def test_the_wheel_holds_event_recorder_typed_at_version_0_1_0(wheel: Path) -> None:

    assert wheel.name.startswith("kubernetes_event_recorder-0.1.0-")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"event_recorder"}
    assert "event_recorder/py.typed" in names
    assert "event_recorder/kopf.py" in names


def test_only_prometheus_client_is_required_and_each_client_is_an_extra(wheel: Path) -> None:

    def names(*extras: str) -> set[str]:
        return {r.name for r in wheel_requirements(wheel, extras)}

    assert names() == {"prometheus_client"}
    assert names("asyncio") == {"prometheus_client", "kubernetes_asyncio"}
    assert names("kubernetes") == {"prometheus_client", "kubernetes"}
    assert names("kopf") == {"prometheus_client", "kopf", "kubernetes_asyncio"}


def test_the_wheel_alone_in_a_fresh_venv_records_an_event(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv", wheel)

    proc = subprocess.run(
        [str(python), "-I", "-c", RECORD],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert Path(result["file"]).is_relative_to(tmp_path / "venv")
    assert result["present"] == []
    assert result["verbs"] == ["create", "patch"]
    (event,) = result["events"]
    assert (event["reason"], event["message"], event["count"]) == (
        "ScalingUp",
        "replicas set to 3",
        2,
    )
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["source"] == {"component": "ScalerOperator", "host": "host-1"}
