"""The operator's logging: format and levels, set once at startup by the CLI.

The webhook's and the monitoring endpoint's server (aiohttp) logs every request on
``aiohttp.access``; admission requests and scrapes are routine, so that is kept to warnings
unless debugging.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning")
"""The choices of ``--log-level``."""

_QUIET_UNLESS_DEBUG = ("aiohttp.access",)


def configure(level: str) -> None:
    """Log to stderr at ``level`` (one of :data:`LEVELS`); chatty libraries at warning."""
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format=FORMAT)
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(
            logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
        )
