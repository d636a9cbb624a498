"""Tear a real node down when its supervisor dies without doing it (SIGKILL, a crash).

The supervisor starts this with a parent-death signal of SIGTERM: the kernel delivers it when
the supervisor is gone, however it went, and this process then runs ``teardown`` once. On a
normal stop the supervisor tears down itself and kills this process first.

Run as ``python -m devcluster.janitor STATE_DIR``.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

from devcluster.teardown import teardown


def main() -> int:
    root = Path(sys.argv[1])
    triggered = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal triggered
        triggered = True

    signal.signal(signal.SIGTERM, on_term)
    while not triggered:
        signal.pause()
    # Give the kernel a moment to deliver SIGKILL to the components, then clean up after them.
    time.sleep(0.5)
    try:
        teardown(root)
    except RuntimeError as exc:
        print(f"{time.strftime('%H:%M:%S')} teardown incomplete: {exc}", flush=True)
        return 1
    print(f"{time.strftime('%H:%M:%S')} real node torn down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
