"""Capture structlog events in tests, with the bound context (tenant, stack, operation_id) merged in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import structlog
from structlog.testing import capture_logs
from structlog.typing import EventDict


@contextlib.contextmanager
def captured_logs() -> Iterator[list[EventDict]]:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        yield logs
