"""Reading one identity's writes from the audit log as it grows, across a rotation."""

from __future__ import annotations

import json
from pathlib import Path

from audit_log import AuditTail, tally

USER = "system:serviceaccount:redis-operator-system:redis-operator"


def line(user: str, verb: str, name: str, code: int, stage: str = "ResponseComplete") -> bytes:
    entry = {
        "stage": stage,
        "user": {"username": user},
        "verb": verb,
        "objectRef": {"resource": "pods", "namespace": "ns", "name": name},
        "responseStatus": {
            "code": code,
            "message": "" if code < 400 else "because it is being terminated",
        },
        "requestReceivedTimestamp": "2026-12-01T08:00:00.000000Z",
    }
    return json.dumps(entry).encode() + b"\n"


def test_only_new_complete_writes_of_the_user(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(line(USER, "create", "before", 201))
    tail = AuditTail(log, USER)
    assert tail.read() == []  # starts at the end
    with log.open("ab") as f:
        f.write(line(USER, "create", "a-0", 201))
        f.write(line("someone-else", "create", "b-0", 201))
        f.write(line(USER, "create", "a-1", 201, stage="ResponseStarted"))
        half = line(USER, "create", "a-2", 403)
        f.write(half[:20])
    assert [w.name for w in tail.read()] == ["a-0"]
    with log.open("ab") as f:
        f.write(half[20:])
    (refused,) = tail.read()
    assert (refused.name, refused.refused, refused.why) == (
        "a-2",
        True,
        "403 namespace terminating",
    )


def test_a_rotated_log_is_read_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    tail = AuditTail(log, USER)
    with log.open("ab") as f:
        f.write(line(USER, "create", "old", 201))
    log.rename(tmp_path / "audit-2026-12-01T08-00-00.000.log")
    log.write_bytes(line(USER, "delete", "new", 200))
    writes = tail.read()
    assert [w.name for w in writes] == ["old", "new"]
    assert tally(writes) == "create pods 1 (201: 1); delete pods 1 (200: 1)"
