"""JSON logs on stdout, one object per line, with every known secret masked.

Call sites log an event name plus identifiers: ``log_event(logger, logging.INFO, "bot.reply_sent",
chat_id=1, chunks=2)``. Message text never goes into a field at INFO; DEBUG may carry lengths only.
The formatter masks the bot token and router key in the *rendered* line, tracebacks included, so a URL
like ``/bot<token>/getUpdates`` inside an exception message cannot leak.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

MASK = "***"
_FIELDS = "cf_fields"
# httpx logs every request URL at INFO, and Bot API URLs contain the token.
_NOISY_LOGGERS = ("httpx", "httpcore", "hpack")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with ``***``, longest first."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with structured ``fields`` (identifiers, counts, reasons; never content)."""
    logger.log(level, event, extra={_FIELDS: fields})


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object: ``ts``, ``level``, ``logger``, ``event`` and the fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=False), self._secrets)


def configure_logging(level: str, secrets: Iterable[str], stream: TextIO | None = None) -> logging.Handler:
    """Route the root logger to ``stream`` (stdout by default) as JSON; return the handler installed.

    Replaces handlers a previous call installed, so it is safe to call again (tests do).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    handler.set_name("cloudfreedom-bot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cloudfreedom-bot"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
