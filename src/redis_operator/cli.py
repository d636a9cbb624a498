"""The ``redis-operator`` command line: run the operator, print its manifests and chart."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from redis_operator import logs
from redis_operator.chart import render_chart, write_chart
from redis_operator.leaderelection.election import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_LEASE_NAME,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    LeaderElectionConfig,
    LeadershipLost,
)
from redis_operator.manager import run
from redis_operator.manifests import NAMESPACE, render_manifests, write_manifests
from redis_operator.messages import Language
from redis_operator.monitoring import listen_address
from redis_operator.settings import (
    DEFAULT_METRICS_ADDRESS,
    ControllerSettings,
    Settings,
    WebhookCertificateSettings,
    WebhookSettings,
)
from redis_operator.webhook.policy import AdmissionPolicy


def _run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    options = Settings(
        kubeconfig=args.kubeconfig,
        namespaces=args.namespace,
        controller=ControllerSettings(
            language=Language(args.event_language),
            workers=args.workers,
            max_concurrent_writes=args.max_concurrent_writes,
        ),
        metrics_address=args.metrics_address,
        leader_election=_leader_election(args),
        webhook=_webhook(args),
    )
    # What is imported by now lives as long as the process: out of the collector's sight, the
    # collections that the first listings' many new objects set off do not traverse it again
    # and again (docs/benchmarks.md).
    gc.freeze()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(options))
    except LeadershipLost as exc:
        # client-go's way: a process that lost the lease exits and restarts clean, rather than
        # carry on with state that may be stale.
        logging.getLogger("redis_operator").error("leadership lost (%s); exiting", exc)
        return 1
    return 0


def _seconds(text: str) -> float:
    """A duration in seconds: ``15``, ``15s`` or ``1.5s``."""
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration in seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _add_leader_election_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("leader election (client-go's Lease protocol)")
    group.add_argument(
        "--leader-elect",
        action="store_true",
        help="run passes only while holding a coordination.k8s.io Lease (for several replicas)",
    )
    group.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: the pod's own namespace in a cluster, from its"
        " ServiceAccount mount; else redis-operator-system)",
    )
    group.add_argument(
        "--leader-election-id",
        default=DEFAULT_LEASE_NAME,
        help=f"name of the Lease (default: {DEFAULT_LEASE_NAME})",
    )
    timings = (
        ("lease-duration", DEFAULT_LEASE_DURATION, "how long standbys wait after the last renewal"),
        ("renew-deadline", DEFAULT_RENEW_DEADLINE, "the leader stops if not renewed for this long"),
        ("retry-period", DEFAULT_RETRY_PERIOD, "interval of renewals and acquisition attempts"),
    )
    for name, default, what in timings:
        group.add_argument(
            f"--leader-elect-{name}",
            type=_seconds,
            default=default,
            metavar="SECONDS",
            help=f"{what} (default: {default:g}s)",
        )


#: Where a pod finds its own namespace (the ServiceAccount token mount).
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_lease_namespace(path: Path = SERVICE_ACCOUNT_NAMESPACE_FILE) -> str:
    """The Lease's namespace when none is given: the pod's own namespace when running in a
    cluster (the ServiceAccount mount), else the namespace deploy/ installs the operator in."""
    try:
        namespace = path.read_text().strip()
    except OSError:
        namespace = ""
    return namespace or NAMESPACE


def _leader_election(args: argparse.Namespace) -> LeaderElectionConfig | None:
    if not args.leader_elect:
        return None
    try:
        return LeaderElectionConfig(
            namespace=args.leader_election_namespace or default_lease_namespace(),
            name=args.leader_election_id,
            lease_duration=args.leader_elect_lease_duration,
            renew_deadline=args.leader_elect_renew_deadline,
            retry_period=args.leader_elect_retry_period,
        )
    except ValueError as exc:  # inconsistent timings: a usage error, like argparse's
        print(f"redis-operator run: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _webhook(args: argparse.Namespace) -> WebhookSettings | None:
    try:
        return _webhook_options(args)
    except ValueError as exc:  # inconsistent webhook flags: a usage error, like argparse's
        print(f"redis-operator run: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


_WEBHOOK_FLAGS = {
    "webhook_cert_file": "--webhook-cert-file",
    "webhook_key_file": "--webhook-key-file",
    "webhook_certificate_secret": "--webhook-certificate-secret",
    "webhook_service": "--webhook-service",
    "webhook_configuration": "--webhook-configuration",
    "webhook_certificate_namespace": "--webhook-certificate-namespace",
    "webhook_config_out": "--webhook-config-out",
    "allowed_image_prefix": "--allowed-image-prefix",
}


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return port


def _add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("admission webhook (off unless --webhook-port is given)")
    group.add_argument(
        "--webhook-port",
        type=_port,
        metavar="PORT",
        help="serve the validating admission webhook over HTTPS on this port (e.g. 9443)",
    )
    group.add_argument(
        "--webhook-address",
        default="0.0.0.0",
        metavar="ADDR",
        help="address to listen on (default: 0.0.0.0, all IPv4 interfaces, as a pod needs)",
    )
    group.add_argument(
        "--webhook-cert-file",
        type=Path,
        metavar="PEM",
        help="serving certificate (e.g. tls.crt of a cert-manager Secret; re-read when it "
        "changes); default: a self-signed one for 127.0.0.1/localhost, for local development",
    )
    group.add_argument(
        "--webhook-key-file", type=Path, metavar="PEM", help="private key of --webhook-cert-file"
    )
    group.add_argument(
        "--webhook-certificate-secret",
        metavar="NAME",
        help="manage the serving certificate: a CA and a certificate for --webhook-service in "
        "this Secret (created if absent, renewed before expiry), served by every replica",
    )
    group.add_argument(
        "--webhook-service",
        metavar="NAME",
        help="the webhook's Service, whose DNS names the managed certificate is for",
    )
    group.add_argument(
        "--webhook-configuration",
        metavar="NAME",
        help="the ValidatingWebhookConfiguration whose caBundle the managed certificate's CA "
        "is kept in (default: none, the caBundle is left alone)",
    )
    group.add_argument(
        "--webhook-certificate-namespace",
        metavar="NS",
        help="namespace of the Secret and the Service (default: $POD_NAMESPACE, else the pod's "
        f"own namespace from its ServiceAccount mount, else {NAMESPACE})",
    )
    group.add_argument(
        "--webhook-config-out",
        type=Path,
        metavar="FILE",
        help="once serving, write a ValidatingWebhookConfiguration for this local process "
        "(url https://127.0.0.1:PORT/..., caBundle of its certificate) to FILE, for "
        "`kubectl apply -f FILE` (local development)",
    )
    group.add_argument(
        "--allowed-image-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="refuse a Redis whose spec.image starts with none of these (repeatable), matched "
        "as written and fully qualified: docker.io/library/ admits redis:7; default: any image",
    )


def _webhook_options(args: argparse.Namespace) -> WebhookSettings | None:
    """The webhook options of parsed arguments; ValueError for inconsistent flags."""
    if args.webhook_port is None:
        given = [flag for attr, flag in _WEBHOOK_FLAGS.items() if getattr(args, attr)]
        if given:
            raise ValueError(f"{', '.join(given)} needs --webhook-port (the webhook is off)")
        return None
    if (args.webhook_cert_file is None) != (args.webhook_key_file is None):
        raise ValueError("--webhook-cert-file and --webhook-key-file go together")
    certificate = _certificate_options(args)
    for path in (args.webhook_cert_file, args.webhook_key_file):
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
    prefixes = tuple(args.allowed_image_prefix)
    if "" in prefixes:
        raise ValueError("--allowed-image-prefix must not be empty (it would allow any image)")
    for prefix in prefixes:
        if not prefix.endswith(("/", ":", "@")):
            logging.getLogger(__name__).warning(
                "--allowed-image-prefix=%s does not end with '/' or ':': it also admits "
                "images such as %s-other/redis",
                prefix,
                prefix,
            )
    return WebhookSettings(
        port=args.webhook_port,
        address=args.webhook_address,
        cert_file=args.webhook_cert_file,
        key_file=args.webhook_key_file,
        certificate=certificate,
        config_out=args.webhook_config_out,
        policy=AdmissionPolicy(prefixes),
    )


def default_certificate_namespace(path: Path = SERVICE_ACCOUNT_NAMESPACE_FILE) -> str:
    """The managed certificate's namespace when none is given: ``$POD_NAMESPACE`` (the
    downward API), else as :func:`default_lease_namespace`."""
    return os.environ.get("POD_NAMESPACE") or default_lease_namespace(path)


def _certificate_options(args: argparse.Namespace) -> WebhookCertificateSettings | None:
    """The managed certificate's options; ValueError for inconsistent flags."""
    if args.webhook_certificate_secret is None:
        given = [
            flag
            for attr, flag in _WEBHOOK_FLAGS.items()
            if attr in ("webhook_service", "webhook_configuration", "webhook_certificate_namespace")
            and getattr(args, attr)
        ]
        if given:
            raise ValueError(f"{', '.join(given)} needs --webhook-certificate-secret")
        return None
    if args.webhook_cert_file is not None:
        raise ValueError(
            "--webhook-certificate-secret (a managed certificate) and --webhook-cert-file "
            "(a certificate from files) exclude each other"
        )
    if args.webhook_config_out is not None:
        raise ValueError(
            "--webhook-config-out is for a self-signed local webhook, not "
            "--webhook-certificate-secret (whose configuration is --webhook-configuration)"
        )
    if not args.webhook_service:
        raise ValueError("--webhook-certificate-secret needs --webhook-service (its DNS names)")
    return WebhookCertificateSettings(
        secret=args.webhook_certificate_secret,
        namespace=args.webhook_certificate_namespace or default_certificate_namespace(),
        service=args.webhook_service,
        configuration=args.webhook_configuration,
    )


def _manifests(args: argparse.Namespace) -> int:
    if args.write:
        for path in write_manifests(Path(args.write)):
            print(path)
        return 0
    print("\n---\n".join(text.strip() for text in render_manifests().values()))
    return 0


def _chart(args: argparse.Namespace) -> int:
    if args.write:
        for path in write_chart(Path(args.write)):
            print(path)
        return 0
    for name, text in render_chart().items():
        print(f"# {name}\n{text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="redis-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_cmd = commands.add_parser("run", help="run the operator")
    run_cmd.add_argument("--kubeconfig", help="kubeconfig (default: in-cluster, or $KUBECONFIG)")
    run_cmd.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    run_cmd.add_argument(
        "--event-language",
        choices=[lang.value for lang in Language],
        default=Language.EN.value,
        help="language of Event reasons and messages (zh: the tutorial's own strings)",
    )
    defaults = ControllerSettings()
    run_cmd.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="concurrent reconcile passes, one per Redis at a time (default: %(default)s)",
    )
    run_cmd.add_argument(
        "--max-concurrent-writes",
        type=int,
        default=defaults.max_concurrent_writes,
        help="bound on the pod/Service writes in flight at once, across all passes "
        "(default: %(default)s)",
    )
    run_cmd.add_argument(
        "--metrics-address",
        type=listen_address,
        default=DEFAULT_METRICS_ADDRESS,
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here; an empty host means all interfaces,"
        f" 0 turns it off (default: {DEFAULT_METRICS_ADDRESS})",
    )
    run_cmd.add_argument("--log-level", default="info", choices=logs.LEVELS)
    _add_leader_election_arguments(run_cmd)
    _add_webhook_arguments(run_cmd)
    run_cmd.set_defaults(handler=_run)

    manifests = commands.add_parser("manifests", help="print the deploy/ manifests from the code")
    manifests.add_argument("--write", metavar="DIR", help="write them into DIR (e.g. deploy)")
    manifests.set_defaults(handler=_manifests)

    chart = commands.add_parser("chart", help="print the Helm chart (charts/) from the code")
    chart.add_argument("--write", metavar="DIR", help="write it into DIR (e.g. charts)")
    chart.set_defaults(handler=_chart)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
