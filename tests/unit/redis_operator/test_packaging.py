"""The operator's wheel (what its image installs) holds its two packages and no test bed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_wheel_holds_redis_operator_and_event_recorder_only(tmp_path: Path) -> None:
    # The image's build context (pyproject.toml, README.md, src/), copied so that the build's
    # build/ and egg-info stay out of the checkout. The test bed is planted under src/ as well:
    # the package find must leave it out even there.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=skip)
    testbed = REPO / "testbed" / "src" / "devcluster"
    shutil.copytree(testbed, source / "src" / "devcluster", ignore=skip)
    dist = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*pip_wheel, "--quiet", "--wheel-dir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = dist.glob("redis_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [name for name in names if "devcluster" in name] == []
    tops = {name.split("/")[0] for name in names if "/" in name}
    assert {top for top in tops if not top.endswith(".dist-info")} == {
        "redis_operator",
        "event_recorder",
    }
