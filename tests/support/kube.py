"""Test helpers against a real cluster: its kubectl, waiting, Events tables, the audit log."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.tool import run_tool


class Kubectl:
    """Runs the cluster's own kubectl with a given kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), f"--kubeconfig={self.kubeconfig}"]
        return run_tool("kubectl", command, args, timeout=120, stdin=stdin, check=check)

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any] | str, *args: str) -> str:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self("apply", "-f", "-", *args, stdin=text)

    def create_namespace(self, name: str, timeout: float = 60.0) -> None:
        """Create it and wait for its default ServiceAccount: pods are refused until then."""
        self("create", "namespace", name)
        wait_for(
            lambda: (
                self.run("get", "serviceaccount", "default", "-n", name, check=False).returncode
                == 0
            ),
            f"the default ServiceAccount in {name}",
            timeout,
        )


def wait_for(condition: Any, what: str, timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Poll until ``condition()`` is truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass(frozen=True)
class EventRow:
    """One row of the Events table that ``kubectl describe`` prints."""

    type: str
    reason: str
    age: str
    source: str
    message: str

    @property
    def line(self) -> str:
        return "  ".join((self.type, self.reason, self.age, self.source, self.message))


def describe_events(described: str) -> list[EventRow]:
    """Parse the Events table of ``kubectl describe`` output (columns split by 2+ spaces).

    Strict: the section and its header must be there, so that a change in kubectl's layout
    fails loudly instead of reading as "no Events".
    """
    lines = described.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Events:")), None)
    assert start is not None, f"no Events section in:\n{described}"
    if "<none>" in lines[start]:
        return []
    header = re.split(r"\s{2,}", lines[start + 1].strip())
    assert header == ["Type", "Reason", "Age", "From", "Message"], lines[start + 1]
    rows = []
    for line in lines[start + 3 :]:  # after the header and its "----" underline
        if not line.startswith("  ") or not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=4)
        cells += [""] * (5 - len(cells))  # an empty message leaves no last column
        rows.append(EventRow(*cells))
    return rows


class AuditLog:
    """The apiserver's audit log (write verbs only, see devcluster.components.AUDIT_POLICY)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        return self.path.stat().st_size

    def completed(self, since: int = 0) -> list[dict[str, Any]]:
        """Every completed write request after byte offset ``since``."""
        with self.path.open("rb") as log:
            log.seek(since)
            lines = log.read().splitlines()
        found = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if entry.get("stage") == "ResponseComplete":
                found.append(entry)
        return found

    def writes(self, user: str, since: int = 0) -> list[dict[str, Any]]:
        """Completed write requests made by ``user`` after byte offset ``since``."""
        return [e for e in self.completed(since) if e["user"]["username"] == user]
