"""Running a command-line tool from a test: its output, or a failure naming what failed."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence


def run_tool(
    name: str,
    command: Sequence[str],
    args: Sequence[str],
    *,
    timeout: float,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` + ``args``; with ``check``, a non-zero exit fails the test with ``name``,
    ``args`` (not the fixed part, which may name credentials' files) and the tool's stderr."""
    proc = subprocess.run(
        [*command, *args],
        input=stdin,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc
