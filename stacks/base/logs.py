"""Logging set-up shared by devctl and the reaper."""

from __future__ import annotations

import logging
import sys
import time

LIBRARY_LOGGERS = ("urllib3", "grpc")
"""Loggers of libraries whose failures reach the user as the command's own error.

``urllib3`` logs every connection retry; ``grpc`` logs a traceback when the
engine stops while the inline program still talks to it (e.g. after the API
server went away mid-update). Both are shown with ``--debug`` only.
"""

CHATTY_LOGGERS = ("apscheduler",)
"""Loggers that report routine work at INFO (APScheduler: every run of the reaper's
pass); only their warnings (e.g. a missed run) are shown without ``--debug``."""


TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""``%(asctime)s`` of log lines: RFC 3339 UTC, as in the reports and the lock files."""


def configure_logging(level: int, fmt: str, debug: bool) -> None:
    """Logs at ``level`` (``DEBUG`` with ``debug``) on stderr; libraries only with ``debug``.

    Times (``%(asctime)s`` in ``fmt``) are UTC, whatever the machine's time zone.
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else level,
        format=fmt,
        datefmt=TIME_FORMAT,
        stream=sys.stderr,
        force=True,
    )
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = time.gmtime
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.CRITICAL)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)
