"""Benchmark of the local control plane: warm start time, memory, binary sizes.

Run with ``python benchmarks/bench_dev_cluster.py [--runs N]``; it prints figures and asserts
nothing. The binaries must be built already (``dev-cluster build``); a cold build is timed by
that command itself (it prints each component's build time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from devcluster.build import ensure_binaries
from devcluster.cluster import DevCluster


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="warm starts to time")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before memory")
    args = parser.parse_args()

    binaries = ensure_binaries()
    print("binary sizes:")
    for name, path in vars(binaries).items():
        if path.suffix != ".yaml":
            print(f"  {name:<24} {path.stat().st_size / 2**20:6.1f} MiB")

    timings = []
    for run in range(args.runs):
        cluster = DevCluster(state_dir=Path(tempfile.mkdtemp(prefix="bench-dev-cluster-")))
        started = time.monotonic()
        try:
            cluster.up(nodes=1, owner_pid=os.getpid())
            timings.append(time.monotonic() - started)
            if run == args.runs - 1:
                time.sleep(args.settle)
                processes = {k: v for k, v in cluster.status().processes.items() if v}
                print(f"memory (RSS) after {args.settle:.0f}s idle:")
                total = 0.0
                for name, pid in processes.items():
                    mib = rss_mib(pid)
                    total += mib
                    print(f"  {name:<24} {mib:7.1f} MiB")
                print(f"  {'total':<24} {total:7.1f} MiB")
        finally:
            cluster.down()
    print(
        f"warm 'up' to ready (1 node), {args.runs} runs: "
        f"median {statistics.median(timings):.1f}s, min {min(timings):.1f}s, "
        f"max {max(timings):.1f}s"
    )


if __name__ == "__main__":
    main()
