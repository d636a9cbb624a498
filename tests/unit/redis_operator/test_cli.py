"""The ``redis-operator`` command line: it stands without the test bed, and its webhook flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from redis_operator.cli import (
    _webhook,
    _webhook_options,
    build_parser,
    default_certificate_namespace,
    main,
)
from redis_operator.settings import WebhookCertificateSettings, WebhookSettings
from redis_operator.webhook.policy import AdmissionPolicy

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


def test_the_commands_are_run_manifests_and_chart_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "{run,manifests,chart}" in out
    assert "dev-cluster" not in out


def _options(*argv: str) -> WebhookSettings | None:
    return _webhook_options(build_parser().parse_args(["run", *argv]))


def test_the_webhook_is_off_without_a_port_and_its_flags_need_one() -> None:
    assert _options() is None
    with pytest.raises(ValueError, match="--allowed-image-prefix needs --webhook-port"):
        _options("--allowed-image-prefix=redis:")


def test_webhook_flags(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("x")
    key.write_text("x")
    options = _options(
        "--webhook-port=9443",
        f"--webhook-cert-file={cert}",
        f"--webhook-key-file={key}",
        "--allowed-image-prefix=redis:",
        "--allowed-image-prefix=docker.io/library/",
    )
    assert options == WebhookSettings(
        port=9443,
        address="0.0.0.0",
        cert_file=cert,
        key_file=key,
        policy=AdmissionPolicy(("redis:", "docker.io/library/")),
    )
    with pytest.raises(ValueError, match="go together"):
        _options("--webhook-port=9443", f"--webhook-cert-file={cert}")
    with pytest.raises(ValueError, match="no such file"):
        _options("--webhook-port=9443", f"--webhook-cert-file={cert}", "--webhook-key-file=/nope")
    with pytest.raises(ValueError, match="must not be empty"):
        _options("--webhook-port=9443", "--allowed-image-prefix=")
    with pytest.raises(SystemExit):
        _options("--webhook-port=70000")


def test_managed_certificate_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "from-downward-api")
    options = _options(
        "--webhook-port=9443",
        "--webhook-certificate-secret=tls",
        "--webhook-service=svc",
        "--webhook-configuration=vwc",
    )
    assert options is not None
    assert options.certificate == WebhookCertificateSettings(
        secret="tls", namespace="from-downward-api", service="svc", configuration="vwc"
    )
    explicit = _options(
        "--webhook-port=9443",
        "--webhook-certificate-secret=tls",
        "--webhook-service=svc",
        "--webhook-certificate-namespace=ns",
    )
    assert explicit is not None and explicit.certificate is not None
    assert (explicit.certificate.namespace, explicit.certificate.configuration) == ("ns", None)
    monkeypatch.delenv("POD_NAMESPACE")
    assert default_certificate_namespace(tmp_path / "absent") == "redis-operator-system"
    (tmp_path / "namespace").write_text("pods-own\n")
    assert default_certificate_namespace(tmp_path / "namespace") == "pods-own"


def test_inconsistent_managed_certificate_flags(tmp_path: Path) -> None:
    cert = tmp_path / "tls.crt"
    cert.write_text("x")
    with pytest.raises(ValueError, match="needs --webhook-service"):
        _options("--webhook-port=9443", "--webhook-certificate-secret=tls")
    with pytest.raises(ValueError, match="--webhook-service needs --webhook-certificate-secret"):
        _options("--webhook-port=9443", "--webhook-service=svc")
    with pytest.raises(ValueError, match="exclude each other"):
        _options(
            "--webhook-port=9443",
            "--webhook-certificate-secret=tls",
            "--webhook-service=svc",
            f"--webhook-cert-file={cert}",
            f"--webhook-key-file={cert}",
        )
    with pytest.raises(ValueError, match="--webhook-config-out is for a self-signed"):
        _options(
            "--webhook-port=9443",
            "--webhook-certificate-secret=tls",
            "--webhook-service=svc",
            "--webhook-config-out=/tmp/x.json",
        )
    with pytest.raises(ValueError, match="--webhook-certificate-secret needs --webhook-port"):
        _options("--webhook-certificate-secret=tls")


def test_inconsistent_webhook_flags_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["run", "--webhook-config-out=/tmp/x.json"])
    with pytest.raises(SystemExit) as exited:
        _webhook(args)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "redis-operator run: error: "
        "--webhook-config-out needs --webhook-port (the webhook is off)\n"
    )


def test_a_prefix_without_a_separator_is_accepted_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = _options("--webhook-port=9443", "--allowed-image-prefix=registry.example.com")
    assert options is not None
    assert options.policy == AdmissionPolicy(("registry.example.com",))
    assert "also admits images such as registry.example.com-other/redis" in caplog.text
