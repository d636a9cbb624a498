"""Building a distribution's wheel and installing it alone into a fresh virtualenv, offline.

The fresh venv has no system site-packages and no pip of its own: the wheel is installed by
this interpreter's pip (``pip --python``, ``--no-index --no-deps``), and each dependency it
declares, with theirs, is copied file by file from the distribution installed here (what pip
would have unpacked from the same wheel), so no index is needed and nothing else is visible.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 300.0


def build_wheel(project: Path, work: Path) -> Path:
    """The project's wheel, built from a copy (so build/ and egg-info stay out of the tree)."""
    source = work / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    shutil.copytree(project, source, ignore=skip)
    dist = work / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*pip_wheel, "--quiet", "--wheel-dir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = dist.glob("*.whl")
    return wheel


def wheel_requirements(wheel: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    """The wheel's Requires-Dist that apply with ``extras`` on this interpreter."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    requirements = [
        Requirement(line.split(":", 1)[1]) for line in lines if line.startswith("Requires-Dist:")
    ]
    return [r for r in requirements if _applies(r, extras)]


def _applies(requirement: Requirement, extras: tuple[str, ...]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def fresh_venv(path: Path, wheel: Path, extras: tuple[str, ...] = ()) -> Path:
    """A new venv holding the wheel and its dependencies (with ``extras``) only; its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    python = path / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    proc = subprocess.run(
        [*install, "--no-index", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    copied: set[str] = set()
    for requirement in wheel_requirements(wheel, extras):
        _copy_installed(requirement, site, copied)
    return python


def _copy_installed(requirement: Requirement, site: Path, copied: set[str]) -> None:
    """Copy the installed distribution meeting ``requirement``, and its own requirements."""
    name = canonicalize_name(requirement.name)
    if name in copied:
        return
    copied.add(name)
    distribution = importlib.metadata.distribution(requirement.name)
    assert requirement.specifier.contains(distribution.version, prereleases=True), (
        f"{requirement} is not met here ({distribution.version})"
    )
    here = Path(sysconfig.get_paths()["purelib"]).resolve()
    for file in distribution.files or ():
        origin = Path(str(file.locate())).resolve()
        if here not in origin.parents:  # console scripts and the like, outside site-packages
            continue
        target = site / origin.relative_to(here)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
    for line in distribution.requires or ():
        dependency = Requirement(line)
        if _applies(dependency, tuple(requirement.extras)):
            _copy_installed(dependency, site, copied)
