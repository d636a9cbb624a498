"""The operator's wheel holds redis_operator only; its image's context, both distributions."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_wheel_holds_redis_operator_only(tmp_path: Path) -> None:
    # The operator's part of the image's build context (pyproject.toml, README.md, src/), copied
    # so that the build's build/ and egg-info stay out of the checkout. The recorder and the test
    # bed are planted under src/ as well: the package find must leave them out even there.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=skip)
    for planted in ("testbed/src/devcluster", "event-recorder/src/event_recorder"):
        shutil.copytree(REPO / planted, source / "src" / Path(planted).name, ignore=skip)
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
    tops = {name.split("/")[0] for name in names if "/" in name}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"redis_operator"}
    (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
    requires = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: kubernetes-event-recorder[asyncio]>=0.1.0" in requires


def _context(patterns: list[str]) -> set[str]:
    """The files of the checkout that Docker's allow-list lets into the build context."""
    included: set[str] = set()
    for path in REPO.rglob("*"):
        if not path.is_file() or ".git" in path.parts or ".venv" in path.parts:
            continue
        relative = path.relative_to(REPO).as_posix()
        keep = False
        for pattern in patterns:
            negated = pattern.startswith("!")
            body = pattern.removeprefix("!").rstrip("/")
            prefixes = [relative, *(p.as_posix() for p in Path(relative).parents)]
            matches = any(fnmatch.fnmatch(prefix, body) for prefix in prefixes)
            matches = matches or fnmatch.fnmatch(relative, body.replace("**/", "*/"))
            if matches:
                keep = negated
        if keep:
            included.add(relative)
    return included


def test_the_image_context_holds_both_distributions_and_no_test_bed() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    context = _context(patterns)

    assert {"pyproject.toml", "README.md", "event-recorder/pyproject.toml"} <= context
    assert "event-recorder/README.md" in context  # its pyproject's readme
    assert "src/redis_operator/__init__.py" in context
    assert "event-recorder/src/event_recorder/__init__.py" in context
    assert {top.split("/")[0] for top in context} == {
        "pyproject.toml",
        "README.md",
        "src",
        "event-recorder",
    }
    assert not [path for path in context if "devcluster" in path or "__pycache__" in path]
    dockerfile = (REPO / "Dockerfile").read_text()
    recorder = dockerfile.index("pip install /build/event-recorder")
    assert recorder < dockerfile.index("pip install /build\n")
