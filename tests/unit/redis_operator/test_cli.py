"""The ``redis-operator`` command line stands without the test bed: ``run`` and ``manifests``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from redis_operator.cli import main

# ``sys.modules[name] = None`` makes every import of that package fail, as if not installed.
_WITHOUT_TESTBED = """\
import sys
sys.modules["devcluster"] = None
from redis_operator.cli import main
sys.exit(main(["run", "--help"]))
"""


def test_run_help_works_where_the_test_bed_cannot_be_imported() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TESTBED],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: redis-operator run")
    assert "--leader-elect" in proc.stdout


def test_the_commands_are_run_and_manifests_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "{run,manifests}" in out
    assert "dev-cluster" not in out
