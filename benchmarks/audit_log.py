"""One identity's writes from the apiserver's audit log: what, on which object, answered how.

The dev cluster audits every write at Metadata level (``devcluster.components.AUDIT_POLICY``):
each completed request carries the verb, the object reference and the response's status code
and, for a refusal, the server's message, which is all a benchmark needs to count a write
storm. :class:`AuditTail` reads the log incrementally, across apiserver restarts (the log is
appended to) and rotations (the apiserver renames the file and starts a new one).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TERMINATING = "because it is being terminated"
"""In the message of a create the apiserver refuses in a namespace being deleted (403)."""


@dataclass(frozen=True)
class Write:
    """One completed write request."""

    verb: str
    resource: str
    """``pods``, ``redis/status``...: the resource and subresource."""
    namespace: str
    name: str
    code: int
    message: str
    time: str
    """When the request was received (RFC 3339, microseconds)."""
    agent: str = ""
    """The client's User-Agent (``kwok/...`` for the simulated nodes)."""

    @property
    def refused(self) -> bool:
        return self.code >= 400

    @property
    def kind(self) -> str:
        """``verb resource``, the way the benchmarks tally writes."""
        return f"{self.verb} {self.resource}"

    @property
    def why(self) -> str:
        """The refusal's cause in a word or two (empty for a success)."""
        if not self.refused:
            return ""
        if TERMINATING in self.message:
            return f"{self.code} namespace terminating"
        return str(self.code)


def parse(line: bytes, user: str) -> Write | None:
    """The write in one audit log line if ``user`` (anyone, if empty) made it and it
    completed, else None."""
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    if entry.get("stage") != "ResponseComplete":
        return None
    if user and entry.get("user", {}).get("username") != user:
        return None
    ref = entry.get("objectRef") or {}
    status = entry.get("responseStatus") or {}
    return Write(
        verb=str(entry.get("verb", "")),
        resource="/".join(filter(None, (ref.get("resource"), ref.get("subresource")))),
        namespace=str(ref.get("namespace", "")),
        name=str(ref.get("name", "")),
        code=int(status.get("code", 0)),
        message=str(status.get("message", "")),
        time=str(entry.get("requestReceivedTimestamp", "")),
        agent=str(entry.get("userAgent", "")),
    )


class AuditTail:
    """The writes ``user`` made since the last :meth:`read`, starting at the log's current end."""

    def __init__(self, path: Path, user: str) -> None:
        self.path = path
        self.user = user
        self._file: IO[bytes] | None = None
        self._inode = -1
        self._partial = b""
        self._open(at_end=True)

    def _open(self, *, at_end: bool) -> None:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return
        if at_end:
            file.seek(0, os.SEEK_END)
        self._file, self._inode = file, os.fstat(file.fileno()).st_ino

    def read(self) -> list[Write]:
        """Everything written since the last call (a rotated-away file is read to its end)."""
        writes: list[Write] = []
        while True:
            if self._file is None:
                self._open(at_end=False)
                if self._file is None:
                    return writes
            writes += self._complete_lines(self._file.read())
            try:
                rotated = self.path.stat().st_ino != self._inode
            except FileNotFoundError:
                rotated = False  # between the rename and the new file: read on next time
            if not rotated:
                return writes
            writes += self._complete_lines(self._file.read())  # its last lines, if any
            self._file.close()
            self._file, self._partial = None, b""

    def _complete_lines(self, data: bytes) -> list[Write]:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # a line still being written, or b""
        return [w for w in (parse(line, self.user) for line in lines) if w is not None]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def tally(writes: Iterable[Write]) -> str:
    """``create pods 600 (201: 590, 403 namespace terminating: 10), ...``, sorted by kind."""
    by_kind: dict[str, Counter[str]] = {}
    for write in writes:
        by_kind.setdefault(write.kind, Counter())[write.why or str(write.code)] += 1
    parts = []
    for kind, codes in sorted(by_kind.items()):
        total = sum(codes.values())
        detail = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
        parts.append(f"{kind} {total} ({detail})")
    return "; ".join(parts) or "none"
