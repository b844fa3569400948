"""structlog configuration: JSON lines with stable event names, secrets scrubbed.

Event names are stable, dotted and lower-case (``provision.service_created``); identifiers are bound
with ``structlog.contextvars.bound_contextvars(tenant=..., stack=..., operation_id=...)``.

Where they go:
- **JSON** (``human=False``: not a terminal, or ``--log-json``): every event at ``level`` on stderr.
- **Human** (a person at a terminal): stderr gets only warnings and errors, one short line each
  (``cfa warning: lock.taken_over tenant=acme …``), so that a command's own output and its one-line
  error are not buried; the full JSON goes to ``file`` (``CFA_LOG_FILE``) when one is set.
- ``file`` receives the full JSON at ``level`` in both cases.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from shared import redaction

_HUMAN_LEVEL = logging.WARNING
_SKIPPED_IN_HUMAN = ("event", "level", "timestamp")


def _scrub_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    scrubbed: EventDict = redaction.scrub(event_dict)
    return scrubbed


class _Outputs:
    """The last processor: writes each event where it belongs, then drops it."""

    def __init__(self, level: int, stream: TextIO, human: bool, file: TextIO | None) -> None:
        self.level = level
        self.stream = stream
        self.human = human
        self.file = file

    def __call__(self, _logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        number = logging.getLevelName(str(event_dict.get("level", method)).upper())
        number = number if isinstance(number, int) else logging.INFO
        line = json.dumps(event_dict, default=str)
        if self.file is not None and number >= self.level:
            self.file.write(line + "\n")
            self.file.flush()
        if self.human:
            if number >= _HUMAN_LEVEL:
                self.stream.write(_human_line(event_dict) + "\n")
                self.stream.flush()
        elif number >= self.level:
            self.stream.write(line + "\n")
            self.stream.flush()
        raise structlog.DropEvent


def _human_line(event: EventDict) -> str:
    fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in _SKIPPED_IN_HUMAN and k != "exception")
    text = f"cfa {event.get('level', 'info')}: {event.get('event', '')} {fields}".rstrip()
    if event.get("exception"):
        text += "\n" + str(event["exception"])
    return text


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, *, human: bool = False, file: Path | None = None
) -> None:
    """Configure structlog (see the module docstring). Safe to call again, e.g. from tests."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handle = file.open("a", encoding="utf-8") if file is not None else None
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub_secrets,
            _Outputs(numeric, stream if stream is not None else sys.stderr, human, handle),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(min(numeric, _HUMAN_LEVEL)),
        logger_factory=structlog.PrintLoggerFactory(file=stream if stream is not None else sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**initial)
    return logger
