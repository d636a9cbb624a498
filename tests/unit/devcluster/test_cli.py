"""The ``dev-cluster`` command line: its subcommands, and its answers where no cluster is."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.cli import main

SUBCOMMANDS = (
    "build",
    "image",
    "up",
    "down",
    "status",
    "kubeconfig",
    "stop-component",
    "start-component",
    "kubectl",
)


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dev-cluster")
    assert "{" + ",".join(SUBCOMMANDS) + "}" in out
    assert "--name" in out
    assert "--state-dir" in out


def test_status_of_no_cluster_says_not_running_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "nosuch"
    assert main(["--state-dir", str(state), "status"]) == 1
    out = capsys.readouterr().out
    assert f"state dir:  {state}" in out
    assert "running:    False" in out
    assert "supervisor               not running" in out
    assert not state.exists()


def test_a_cluster_error_is_one_line_on_stderr_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "nosuch"
    assert main(["--state-dir", str(state), "kubeconfig", "--user", "alice"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: no cluster at {state}; run 'dev-cluster up' first\n"
    assert not state.exists()


def test_up_offers_real_and_kwok_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = capsys.readouterr().out
    assert "--real-nodes" in out and "--nodes" in out
