"""The benchmark helpers import each other as top-level modules, the way their scripts run
(``python benchmarks/bench_soak.py`` puts the directory on sys.path): so do the tests."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
