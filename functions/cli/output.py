"""Human tables and ``--json`` output on stdout. Logs go to stderr, never here."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import BaseModel

from shared import redaction
from shared.errors import InvalidInput


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit_json(value: Any, out: TextIO | None = None) -> None:
    """Machine output: one JSON document, secrets scrubbed unless explicitly shown by the caller."""
    print(json.dumps(_plain(value), indent=2, sort_keys=False), file=out or sys.stdout)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], out: TextIO | None = None) -> None:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    stream = out or sys.stdout
    for index, row in enumerate(cells):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=stream,
        )
        if index == 0:
            print("  ".join("-" * width for width in widths), file=stream)


def say(text: str, out: TextIO | None = None) -> None:
    print(text, file=out or sys.stdout)


def note(text: str) -> None:
    """A remark for the person at the terminal, on stderr, so that stdout stays the command's output."""
    print(f"cfa: {text}", file=sys.stderr)


def confirm(action: str, *, answer: str, yes: bool) -> None:
    """An irreversible ``action`` goes ahead with ``--yes``, or after a person at a terminal types
    ``answer``; otherwise it is refused (InvalidInput, nothing changed)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput("--yes", f"refusing to {action} without confirmation", advice="re-run with --yes")
    print(f"This will {action}. Type {answer!r} to confirm: ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip() != answer:
        raise InvalidInput("confirmation", "the answer did not match; nothing was changed")


def dry_run_report(reason: str, calls: list[dict[str, Any]], compose_yaml: str | None = None) -> None:
    """The human form of a dry run: a banner, every Coolify call (secrets masked), the compose."""
    say(f"DRY RUN ({reason}): nothing was sent to Coolify and nothing was written to PocketBase.")
    say(f"Coolify calls the operation makes ({len(calls)}):")
    for number, call in enumerate(calls, 1):
        query = "?" + "&".join(f"{k}={v}" for k, v in call["query"].items()) if call["query"] else ""
        note = "" if call["method"] == "GET" else "   [not sent]"
        say(f"  {number:2}. {call['method']} {call['path']}{query}{note}")
        if call["body"] is not None:
            say("      " + json.dumps(redaction.scrub(call["body"]), sort_keys=True))
    if compose_yaml is not None:
        say("Rendered compose (sent base64-encoded as docker_compose_raw):")
        say(redaction.scrub(compose_yaml).rstrip())
