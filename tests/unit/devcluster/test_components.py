"""kube-scheduler's command line: its client rate is its own unless the cluster raised it."""

from __future__ import annotations

from pathlib import Path

from devcluster.build import Binaries
from devcluster.components import control_plane
from devcluster.layout import Layout, Settings
from devcluster.ports import Ports


def _scheduler_argv(tmp_path: Path, qps: float | None, burst: int | None) -> list[str]:
    binaries = Binaries(*(tmp_path / name for name in ("e", "a", "c", "s", "k", "w", "st")))
    ports = Ports.allocate()
    settings = Settings(ports, binaries, 1, None, None, qps, burst)
    (component,) = [
        c for c in control_plane(Layout(tmp_path), settings) if c.name == "kube-scheduler"
    ]
    return component.argv


def test_the_scheduler_keeps_its_default_rate(tmp_path: Path) -> None:
    argv = _scheduler_argv(tmp_path, None, None)
    assert not [a for a in argv if a.startswith(("--kube-api-qps", "--kube-api-burst"))]


def test_a_raised_rate_reaches_the_scheduler(tmp_path: Path) -> None:
    argv = _scheduler_argv(tmp_path, 500.0, 1000)
    assert "--kube-api-qps=500" in argv
    assert "--kube-api-burst=1000" in argv


def test_the_rate_survives_the_settings_file(tmp_path: Path) -> None:
    binaries = Binaries(*(tmp_path / name for name in ("e", "a", "c", "s", "k", "w", "st")))
    settings = Settings(Ports.allocate(), binaries, 2, None, None, 250.5, 600)
    settings.save(tmp_path / "settings.json")
    loaded = Settings.load(tmp_path / "settings.json")
    assert (loaded.scheduler_api_qps, loaded.scheduler_api_burst) == (250.5, 600)
