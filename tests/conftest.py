"""Test-suite-wide settings.

Property-based tests explore new random examples on every local run; under CI (``CI=true``)
they replay a fixed, derandomized set, so that a landing never depends on the luck of a draw.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
