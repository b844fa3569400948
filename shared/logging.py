"""structlog configuration: one JSON object per line on stderr, secrets scrubbed.

Event names are stable, dotted and lower-case (``provision.service_created``); identifiers are bound
with ``structlog.contextvars.bound_contextvars(tenant=..., stack=..., operation_id=...)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from shared import redaction


def _scrub_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    scrubbed: EventDict = redaction.scrub(event_dict)
    return scrubbed


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send JSON logs to ``stream`` (stderr by default). Safe to call again, e.g. from tests."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub_secrets,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream if stream is not None else sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**initial)
    return logger
