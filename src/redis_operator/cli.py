"""The ``redis-operator`` command line: run the operator, print its manifests."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from redis_operator import admission
from redis_operator.controller import ControllerSettings
from redis_operator.leaderelection.election import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_LEASE_NAME,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    LeaderElectionConfig,
    LeadershipLost,
)
from redis_operator.manager import RunOptions, run
from redis_operator.manifests import NAMESPACE, render_manifests, write_manifests
from redis_operator.messages import Language
from redis_operator.monitoring import DEFAULT_ADDRESS, listen_address


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = RunOptions(
        kubeconfig=args.kubeconfig,
        namespaces=args.namespace,
        controller=ControllerSettings(
            language=Language(args.event_language),
            workers=args.workers,
            max_concurrent_writes=args.max_concurrent_writes,
        ),
        liveness_endpoint=args.liveness_endpoint,
        metrics_address=args.metrics_address,
        leader_election=_leader_election(args),
        webhook=_webhook(args),
    )
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


def _webhook(args: argparse.Namespace) -> admission.WebhookOptions | None:
    try:
        return admission.options_from_args(args)
    except ValueError as exc:  # inconsistent webhook flags: a usage error, like argparse's
        print(f"redis-operator run: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _manifests(args: argparse.Namespace) -> int:
    if args.write:
        for path in write_manifests(Path(args.write)):
            print(path)
        return 0
    print("\n---\n".join(text.strip() for text in render_manifests().values()))
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
        "--liveness-endpoint",
        help="serve kopf's liveness probe, e.g. http://127.0.0.1:8081/healthz",
    )
    run_cmd.add_argument(
        "--metrics-address",
        type=listen_address,
        default=DEFAULT_ADDRESS,
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here; an empty host means all interfaces,"
        f" 0 turns it off (default: {DEFAULT_ADDRESS})",
    )
    run_cmd.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    _add_leader_election_arguments(run_cmd)
    admission.add_arguments(run_cmd)
    run_cmd.set_defaults(handler=_run)

    manifests = commands.add_parser("manifests", help="print the deploy/ manifests from the code")
    manifests.add_argument("--write", metavar="DIR", help="write them into DIR (e.g. deploy)")
    manifests.set_defaults(handler=_manifests)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
