"""docs/event-recorder.md's "Differences from client-go" table is the conformance suite's own."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.clientgo_differences import DELIBERATE_DIFFERENCES

DOC = Path(__file__).resolve().parents[3] / "docs" / "event-recorder.md"


def documented_keys() -> list[str]:
    text = DOC.read_text()
    section = text.split("## Differences from client-go", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.MULTILINE)


def test_the_docs_table_lists_the_suites_differences() -> None:
    keys = documented_keys()
    assert len(keys) == len(set(keys))
    assert keys == list(DELIBERATE_DIFFERENCES)
