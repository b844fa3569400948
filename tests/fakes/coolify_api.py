"""The small vocabulary the fake's handlers share: the request context, the reply, common replies."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.coolify_state import CoolifyState

SORT_FIRST = ("id", "uuid", "name", "description")
SORT_LAST = ("created_at", "updated_at")


@dataclass(frozen=True)
class Ctx:
    """What a handler gets: the world, the path parameters, the query, the parsed body, the token."""

    state: CoolifyState
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    abilities: frozenset[str]

    @property
    def sensitive(self) -> bool:
        """Whether the token may see secrets (``read:sensitive`` or ``root``; §1)."""
        return bool(self.abilities & {"read:sensitive", "root"})


@dataclass(frozen=True)
class Reply:
    """A response: JSON ``body`` unless ``text`` is set (then ``text/html``, as Laravel's ``response()``)."""

    status: int
    body: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def message(status: int, text: str, **extra: Any) -> Reply:
    return Reply(status, {"message": text, **extra})


def validation_failed(errors: Mapping[str, Any]) -> Reply:
    """``422 {"message": "Validation failed.", "errors": {...}}``."""
    return Reply(422, {"message": "Validation failed.", "errors": dict(errors)})


def serialize(row: Mapping[str, Any]) -> dict[str, Any]:
    """``serializeApiResponse()``: keys sorted, ``id, uuid, name, description`` first, timestamps last."""
    first = [k for k in SORT_FIRST if k in row]
    last = [k for k in SORT_LAST if k in row]
    middle = sorted(k for k in row if k not in first and k not in last)
    return {k: row[k] for k in [*first, *middle, *last]}


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class CallRecord:
    """One request the fake received, in arrival order.

    ``body`` is the parsed JSON (``None`` if there was no body or it was not JSON); ``status`` is what
    the client got, ``None`` when it got a timeout instead; ``fault`` names the injected fault, if any.
    """

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    status: int | None
    fault: str | None = None
    at: float = field(default_factory=time.time)  # wall-clock arrival (benchmarks compare it with others)

    @property
    def is_write(self) -> bool:
        """A request that may change state: POST/PUT/PATCH/DELETE under ``/api/v1``."""
        return self.method in WRITE_METHODS and self.path.startswith("/api/v1/")
