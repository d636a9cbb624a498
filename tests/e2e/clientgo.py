"""Run one recording scenario through client-go (tests/clientgo) or through event_recorder.

A scenario is a script of plain JSON (see :class:`Script`): the same script drives the Go
program, which records through client-go's stock ``tools/record`` or ``tools/events``, and
:func:`run_ours`, which records through :class:`event_recorder.EventBroadcaster` on
kubernetes_asyncio. Each run's API writes are told apart in the audit log by user agent.

``python -m tests.e2e.clientgo`` builds the Go program (``scripts/test`` does, before pytest).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from prometheus_client import CollectorRegistry

from devcluster.build import cache_root
from event_recorder import EventAPI, EventBroadcaster, ObjectReference, RecorderOptions
from tests.support.kube import AuditLog

SOURCE_DIR = Path(__file__).resolve().parents[1] / "clientgo"
SOURCES = ("go.mod", "go.sum", "main.go")
GO_AGENT = "conformance-clientgo"
OURS_AGENT = "conformance-event-recorder"
RUN_TIMEOUT = 300.0

Step = dict[str, Any]
OnPause = Callable[[str], None]
"""Called with a pause step's label, while the recording side waits."""


@dataclass(frozen=True)
class Recorder:
    component: str
    host: str = ""


@dataclass(frozen=True)
class Script:
    """What to record; the JSON the Go program reads (the same field names)."""

    mode: str  # "record" (core/v1, tools/record) or "events" (events.k8s.io/v1, tools/events)
    recorders: tuple[Recorder, ...]
    steps: tuple[Step, ...]
    fake_clock: bool = False
    """The correlator's clock is a fake that ``advance`` steps move (tools/record only)."""
    sleep_seconds: float = 10.0
    """Retry interval (client-go's default 10 s)."""
    shutdown_grace: float = 2.0
    """After a ``shutdown`` step, how long the process lives on (client-go's writes in flight)."""

    def to_json(self, user_agent: str) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "userAgent": user_agent,
                "fakeClock": self.fake_clock,
                "sleepSeconds": self.sleep_seconds,
                "shutdownGrace": self.shutdown_grace,
                "recorders": [{"component": r.component, "host": r.host} for r in self.recorders],
                "steps": list(self.steps),
            }
        )


@dataclass
class Run:
    """What one side did: its API writes (from the audit log) and the wall-clock window."""

    started: float
    ended: float
    writes: list[dict[str, Any]] = field(default_factory=list)

    def tally(self) -> Counter[tuple[str, int]]:
        """(verb, response code) of every Event write."""
        return Counter((w["verb"], w["responseStatus"]["code"]) for w in self.writes)


def _source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_program() -> Path:
    """The Go program, built once per version of its sources into the cache."""
    target = cache_root() / "bin" / f"clientgo-conformance-{_source_hash()}" / "clientgo"
    if target.exists():
        return target
    if shutil.which("go") is None:
        raise RuntimeError("'go' is not on PATH; it builds the client-go conformance program")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    proc = subprocess.run(
        ["go", "build", "-trimpath", "-o", str(partial), "."],
        cwd=SOURCE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go build of {SOURCE_DIR} failed:\n{proc.stderr[-3000:]}")
    partial.rename(target)
    return target


def run_go(binary: Path, kubeconfig: Path, script: Script, on_pause: OnPause) -> None:
    """Record ``script`` through client-go; answer its pauses with ``on_pause``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        file.write(script.to_json(GO_AGENT))
    try:
        proc = subprocess.Popen(
            [str(binary), f"--kubeconfig={kubeconfig}", f"--script={file.name}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stderr: list[str] = []
        reader = threading.Thread(target=stderr.extend, args=(proc.stderr,), daemon=True)
        reader.start()
        timer = threading.Timer(RUN_TIMEOUT, proc.kill)
        timer.start()
        done = None
        try:
            for line in proc.stdout:
                message = json.loads(line)
                if "paused" in message:
                    on_pause(message["paused"])
                    proc.stdin.write("\n")
                    proc.stdin.flush()
                elif message.get("done"):
                    done = message
            code = proc.wait()
        finally:
            timer.cancel()
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        if code != 0 or done is None:
            tail = "".join(stderr)[-3000:]
            raise AssertionError(f"the client-go program failed (exit {code}):\n{tail}")
    finally:
        os.unlink(file.name)


async def run_ours(api: client.ApiClient, script: Script, on_pause: OnPause) -> CollectorRegistry:
    """Record ``script`` through event_recorder; its metrics registry, for diagnostics."""
    offset = 0
    events_mode = script.mode == "events"
    options = RecorderOptions(
        api=EventAPI.EVENTS_V1 if events_mode else EventAPI.CORE_V1,
        retry_interval=script.sleep_seconds,
    )

    def clock() -> int:
        return time.time_ns() + offset

    registry = CollectorRegistry()
    previous_agent = api.user_agent
    api.user_agent = OURS_AGENT
    broadcaster = EventBroadcaster(api, options, registry, clock=clock)
    try:
        await broadcaster.start()
        # client-go's tools/events names the instance <controller>-<hostname> itself.
        recorders = [
            broadcaster.new_recorder(r.component, socket.gethostname() if events_mode else r.host)
            for r in script.recorders
        ]
        for step in script.steps:
            op = step["op"]
            if op == "event":
                _record(recorders[step.get("recorder", 0)], step, events_mode)
            elif op == "drain":
                await broadcaster.flush()
            elif op == "sleep":
                await asyncio.sleep(step["seconds"])
            elif op == "advance":
                offset += round(step["seconds"] * 1e9)
            elif op == "pause":
                await asyncio.to_thread(on_pause, step["label"])
            elif op == "shutdown":
                await broadcaster.shutdown()
                return registry
            else:
                raise ValueError(f"unknown step {op!r}")
        await broadcaster.flush()
        await broadcaster.shutdown(timeout=30.0)
    finally:
        await broadcaster.shutdown(timeout=5.0)
        api.user_agent = previous_agent
    return registry


def _record(recorder: Any, step: Step, events_mode: bool) -> None:
    obj = ObjectReference.from_dict(step["object"])
    args = (step["type"], step["reason"], step["message"])
    for _ in range(step.get("repeat", 1)):
        if events_mode:
            related = step.get("related")
            recorder.event(
                obj,
                *args,
                action=step.get("action", ""),
                related=None if related is None else ObjectReference.from_dict(related),
            )
        elif step.get("annotations") is not None:
            recorder.annotated_eventf(obj, step["annotations"], *args[:2], "%s", args[2])
        else:
            recorder.event(obj, *args)


def audit_writes(audit_log: Path, since: int, user_agent: str) -> list[dict[str, Any]]:
    """Completed Event writes (create, patch, update) sent with ``user_agent`` after ``since``."""
    return [
        entry
        for entry in AuditLog(audit_log).completed(since)
        if entry.get("userAgent") == user_agent
        and (entry.get("objectRef") or {}).get("resource") == "events"
        and entry.get("verb") in ("create", "patch", "update")
    ]


if __name__ == "__main__":
    print(build_program())
