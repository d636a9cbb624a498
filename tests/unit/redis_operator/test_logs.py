"""Logging setup: aiohttp's access lines only when debugging."""

from __future__ import annotations

import logging

import pytest

from redis_operator import logs


@pytest.mark.parametrize(("level", "quiet"), [("info", logging.WARNING), ("debug", logging.DEBUG)])
def test_chatty_libraries_are_quiet_unless_debugging(level: str, quiet: int) -> None:
    saved = {name: logging.getLogger(name).level for name in ("aiohttp.access",)}
    try:
        logs.configure(level)
        assert logging.getLogger("aiohttp.access").level == quiet
    finally:
        for name, value in saved.items():
            logging.getLogger(name).setLevel(value)
