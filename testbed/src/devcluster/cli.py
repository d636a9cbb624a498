"""The ``dev-cluster`` command line: build, start, inspect and stop a local control plane."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from devcluster.build import BuildError, build_helm, ensure_binaries, ensure_node_binaries
from devcluster.cluster import ClusterError, DevCluster
from devcluster.hostpkgs import ensure_host_packages
from devcluster.imagebuild import build_operator_image, default_context
from devcluster.images import build_pause_image, build_redis_image


def _cluster(args: argparse.Namespace) -> DevCluster:
    return DevCluster(Path(args.state_dir) if args.state_dir else None, name=args.name)


def _dispatch(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if args.action == "build":
        for name, path in vars(ensure_binaries()).items():
            print(f"{name:<24} {path}")
        # Not the cluster's: the chart's tests install with it (tests/e2e/helm.py).
        print(f"{'helm':<24} {build_helm() / 'helm'}")
        if not args.kwok_only and os.geteuid() != 0:
            print("real node skipped: it needs root (kwok nodes only: 'up --real-nodes 0')")
        elif not args.kwok_only:
            ensure_host_packages()
            node = ensure_node_binaries()
            images = (
                build_pause_image(node.pause_source),
                build_redis_image(),
                build_operator_image(node, Path(args.context)),
            )
            for name, path in vars(node).items():
                print(f"{name:<24} {path}")
            for image in images:
                print(f"{image.name:<24} {image.archive}")
    elif args.action == "image":
        image = build_operator_image(ensure_node_binaries(), Path(args.context))
        print(f"{image.name:<24} {image.archive}")
        if cluster.is_ready():
            cluster.import_image(image.archive)
            print(f"imported into {cluster.layout.root}'s real node (containerd namespace k8s.io)")
    elif args.action == "up":
        kubeconfig = cluster.up(
            nodes=args.nodes,
            owner_pid=args.owner_pid,
            timeout=args.timeout,
            real_nodes=args.real_nodes,
            scheduler_api_qps=args.scheduler_api_qps,
            scheduler_api_burst=args.scheduler_api_burst,
        )
        kubectl = cluster.kubectl_path()
        print(f"Cluster ready. Admin kubeconfig: {kubeconfig}")
        print(f"  export KUBECONFIG={kubeconfig}")
        print(f"  {kubectl} get nodes")
        print(f"or: dev-cluster kubectl -- get nodes   (kubectl: {kubectl})")
    elif args.action == "down":
        cluster.down()
        print(f"Cluster at {cluster.layout.root} stopped and removed.")
    elif args.action == "status":
        status = cluster.status()
        print(f"state dir:  {status.state_dir}")
        print(f"running:    {status.running}")
        print(f"ready:      {status.ready}")
        print(f"kubeconfig: {status.kubeconfig or '-'}")
        for name, pid in status.processes.items():
            print(f"  {name:<24} {pid if pid is not None else 'not running'}")
        return 0 if status.ready else 1
    elif args.action == "kubeconfig":
        if args.user is None:
            print(cluster.kubeconfig)
        else:
            print(cluster.issue_kubeconfig(args.user, args.group))
    elif args.action == "stop-component":
        cluster.stop_component(args.component)
        print(f"{args.component} stopped; start it again with 'dev-cluster start-component'")
    elif args.action == "start-component":
        cluster.start_component(args.component)
        print(f"{args.component} started")
    elif args.action == "kubectl":
        argv = [str(cluster.kubectl_path()), *args.kubectl_args]
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        return subprocess.run(argv, env=env, check=False).returncode
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dev-cluster",
        description="A local Kubernetes control plane for development, tests and the demo.",
    )
    parser.add_argument("--name", default="dev", help="cluster name (state dir name); default: dev")
    parser.add_argument("--state-dir", help="state directory (overrides --name)")
    actions = parser.add_subparsers(dest="action", required=True)
    build = actions.add_parser(
        "build", help="build the binaries and images into the cache (reusing what is there)"
    )
    build.add_argument(
        "--kwok-only", action="store_true", help="skip the real node's binaries and images"
    )
    image = actions.add_parser(
        "image",
        help="build the operator's image from its Dockerfile (BuildKit, offline; needs root) "
        "and import it into the running cluster's real node",
    )
    for parser_ in (build, image):
        parser_.add_argument(
            "--context",
            default=str(default_context()),
            help="the operator's source tree (its Dockerfile); default: %(default)s",
        )
    up = actions.add_parser("up", help="build if needed, start in the background, wait ready")
    up.add_argument("--nodes", type=int, default=1, help="number of kwok fake nodes")
    up.add_argument(
        "--real-nodes",
        type=int,
        default=1,
        help="real nodes (0 or 1; needs root): containerd and a kubelet, pods really run",
    )
    up.add_argument(
        "--scheduler-api-qps",
        type=float,
        help="kube-scheduler's --kube-api-qps (default: its own, 50), which bounds pod binding",
    )
    up.add_argument(
        "--scheduler-api-burst", type=int, help="kube-scheduler's --kube-api-burst (default: 100)"
    )
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for ready")
    up.add_argument("--owner-pid", type=int, help="tear the cluster down when this process exits")
    actions.add_parser("down", help="stop every process of the cluster and remove its state")
    actions.add_parser("status", help="show processes and readiness (exit 1 when not ready)")
    kc = actions.add_parser("kubeconfig", help="print the admin kubeconfig path, or issue one")
    kc.add_argument("--user", help="issue a kubeconfig for this (non-admin) user")
    kc.add_argument("--group", action="append", default=[], help="group of --user (repeatable)")
    for verb in ("stop", "start"):
        control = actions.add_parser(
            f"{verb}-component", help=f"{verb} one component (e.g. kube-apiserver, for outages)"
        )
        control.add_argument("component")
    kubectl = actions.add_parser("kubectl", help="run the matching kubectl as admin")
    kubectl.add_argument("kubectl_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "kubectl_args", None) and args.kubectl_args[0] == "--":
        args.kubectl_args = args.kubectl_args[1:]
    try:
        return _dispatch(args)
    except (BuildError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
