"""The operator's logging: format and levels, set once at startup by the CLI.

kopf logs every handler call at INFO on ``kopf.objects``, and its webhook server (aiohttp) every
admission request on ``aiohttp.access``; the operator's own watch handlers are plain feeders and
admission requests are routine, so both are kept to warnings unless debugging.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning")
"""The choices of ``--log-level``."""

_QUIET_UNLESS_DEBUG = ("kopf.objects", "aiohttp.access")


def configure(level: str) -> None:
    """Log to stderr at ``level`` (one of :data:`LEVELS`); chatty libraries at warning."""
    numeric = getattr(logging, level.upper())
    logging.basicConfig(level=numeric, format=FORMAT)
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(
            logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
        )
