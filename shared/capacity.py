"""Host capacity, as arithmetic: budgets per Coolify server, what stacks claim of them, where one more fits.

No I/O and no imports of the platform's heavier modules (the settings model parses its configuration
with this module). Amounts are integers — CPU in millicores, memory and disk in bytes — so sums and
comparisons are exact.

- A server's **budget** (``CFA_CAPACITY``) is what tenants may claim of it: CPUs, memory, disk. Its
  **capacity** is the budget times the overcommit ratio of each resource (``CFA_CAPACITY_OVERCOMMIT``).
- A stack **claims** its reservation on its server: its services' limits and, when stateful, its volume
  budget (``shared.reservations``).
- A claim fits when, for every resource whose claim grows, the others' claims plus it stay within the
  capacity. A resource whose claim does not grow is never the reason for a refusal: a re-run or a
  downgrade on an already overfull server is allowed.
- **Headroom** of a server for a claim: the smallest free fraction of capacity left after placing it,
  over the resources the claim needs. A new stack goes to the fitting server with the most headroom.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Resource = Literal["cpu", "memory", "disk"]
RESOURCES: tuple[Resource, ...] = ("cpu", "memory", "disk")
DEFAULT_KEY = "default"  # the CFA_CAPACITY entry that applies to every server without its own

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(value: object) -> int:
    """A size in bytes: a number of bytes, or ``512M``, ``31G``, ``31GiB``, ``1.5T`` (binary units, as
    Compose reads ``mem_limit``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value!r}")
        return int(value)
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match:
            number, unit = match.groups()
            return int(float(number) * _UNITS[unit.lower()])
    raise ValueError(f"not a size: {value!r} (e.g. 31G, 512M or a number of bytes)")


def format_bytes(size: int) -> str:
    """``3.0 GiB``, ``512 MiB`` — for messages and the capacity table."""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


class ServerBudget(BaseModel):
    """What tenants may claim of one server: CPUs, memory and disk (before overcommit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(gt=0)
    memory: int = Field(gt=0, description="bytes; given as 31G, 512M or a number of bytes")
    disk: int = Field(ge=0, description="bytes for stateful stacks' volume budgets; 0: none may be placed")

    @field_validator("memory", "disk", mode="before")
    @classmethod
    def _size(cls, value: object) -> int:
        return parse_bytes(value)


class Overcommit(BaseModel):
    """How far claims may exceed the budget, per resource: capacity = budget x ratio. CPU limits are
    ceilings an idle agent rarely reaches (2.0 by default); memory limits are hard (a container past
    its limit is OOM-killed) and volume budgets are disk that fills, so both default to 1.0."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: float = Field(default=2.0, gt=0, le=100)
    memory: float = Field(default=1.0, gt=0, le=100)
    disk: float = Field(default=1.0, gt=0, le=100)

    def ratio(self, resource: Resource) -> float:
        return float(getattr(self, resource))


def _json_object(value: object, example: str) -> dict[str, Any]:
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON ({err.msg} at column {err.colno}); e.g. {example}") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object, e.g. {example}")
    return value


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in err.errors())


CAPACITY_EXAMPLE = '{"default": {"cpus": 12, "memory": "31G", "disk": "24G"}}'
OVERCOMMIT_EXAMPLE = '{"cpu": 2.0, "memory": 1.0, "disk": 1.0}'


def parse_capacity(value: object) -> dict[str, ServerBudget]:
    """``CFA_CAPACITY``: a budget per Coolify server uuid, and/or ``"default"`` for every other server.
    Raises ValueError saying which entry is wrong and how."""
    raw = _json_object(value, CAPACITY_EXAMPLE)
    budgets: dict[str, ServerBudget] = {}
    for key, entry in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 64:
            raise ValueError(f"{key!r} is not a server uuid or {DEFAULT_KEY!r}")
        if isinstance(entry, ServerBudget):
            budgets[key] = entry
            continue
        try:
            budgets[key] = ServerBudget.model_validate(entry)
        except ValidationError as err:
            raise ValueError(
                f"{key}: {_problems(err)} (each entry is {{cpus, memory, disk}}, e.g. {CAPACITY_EXAMPLE})"
            ) from None
    return budgets


def parse_overcommit(value: object) -> Overcommit:
    """``CFA_CAPACITY_OVERCOMMIT``: ratios per resource; the ones not given keep their defaults."""
    if isinstance(value, Overcommit):
        return value
    try:
        return Overcommit.model_validate(_json_object(value, OVERCOMMIT_EXAMPLE))
    except ValidationError as err:
        raise ValueError(f"{_problems(err)} (keys cpu, memory, disk; e.g. {OVERCOMMIT_EXAMPLE})") from None


def budget_for(budgets: dict[str, ServerBudget], server_uuid: str) -> tuple[ServerBudget | None, str]:
    """The budget of a server and where it comes from (``"server"``, ``"default"``, or ``""``: none)."""
    if server_uuid in budgets:
        return budgets[server_uuid], "server"
    if DEFAULT_KEY in budgets:
        return budgets[DEFAULT_KEY], "default"
    return None, ""


@dataclass(frozen=True)
class Amount:
    """CPU in millicores, memory and disk in bytes."""

    cpu: int = 0
    memory: int = 0
    disk: int = 0

    @classmethod
    def of(cls, cpus: float, memory_bytes: int, volume_bytes: int) -> Amount:
        return cls(cpu=round(cpus * 1000), memory=int(memory_bytes), disk=int(volume_bytes))

    def get(self, resource: Resource) -> int:
        return int(getattr(self, resource))

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.cpu + other.cpu, self.memory + other.memory, self.disk + other.disk)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.cpu - other.cpu, self.memory - other.memory, self.disk - other.disk)

    @property
    def cpus(self) -> float:
        return self.cpu / 1000


ZERO = Amount()


def total(amounts: Sequence[Amount]) -> Amount:
    result = ZERO
    for amount in amounts:
        result = result + amount
    return result


def capacity_of(budget: ServerBudget, overcommit: Overcommit) -> Amount:
    """The budget times the overcommit ratios: what claims on the server may add up to."""
    return Amount(
        cpu=math.floor(budget.cpus * 1000 * overcommit.cpu + 1e-6),
        memory=math.floor(budget.memory * overcommit.memory + 1e-6),
        disk=math.floor(budget.disk * overcommit.disk + 1e-6),
    )


def show(resource: Resource, value: int) -> str:
    """An amount of one resource for a person: ``1.25 CPUs``, ``3.0 GiB``."""
    if resource == "cpu":
        return f"{value / 1000:g} CPU{'' if value == 1000 else 's'}"
    return format_bytes(value)


@dataclass(frozen=True)
class Shortfall:
    """Placing a claim would take ``needed`` of ``resource`` where only ``free`` is left."""

    resource: Resource
    needed: int
    free: int
    capacity: int

    def describe(self) -> str:
        return (
            f"{self.resource} needs {show(self.resource, self.needed)}, "
            f"{show(self.resource, max(self.free, 0))} free of {show(self.resource, self.capacity)}"
        )

    def as_dict(self) -> dict[str, Any]:
        unit = "millicores" if self.resource == "cpu" else "bytes"
        return {
            "resource": self.resource,
            "needed": self.needed,
            "free": max(self.free, 0),
            "capacity": self.capacity,
            "unit": unit,
        }


def shortfalls(others: Amount, need: Amount, capacity: Amount, *, current: Amount = ZERO) -> list[Shortfall]:
    """The resources on which ``need`` does not fit next to ``others`` (every other claim on the server).

    ``current``: what the same stack claims there already; a resource whose claim does not grow is
    never a shortfall (a re-run or a downgrade is allowed on an overfull server).
    """
    out = []
    for resource in RESOURCES:
        needed = need.get(resource)
        if needed <= current.get(resource):
            continue
        free = capacity.get(resource) - others.get(resource)
        if needed > free:
            out.append(Shortfall(resource, needed, free, capacity.get(resource)))
    return out


def headroom(others: Amount, need: Amount, capacity: Amount) -> float:
    """The smallest fraction of capacity left free after placing ``need``, over the resources it needs
    (over all resources when it needs none). Negative when it does not fit; -inf on a resource with no
    capacity at all."""
    wanted = [r for r in RESOURCES if need.get(r) > 0] or list(RESOURCES)
    fractions = []
    for resource in wanted:
        cap = capacity.get(resource)
        left = cap - others.get(resource) - need.get(resource)
        fractions.append(left / cap if cap > 0 else (0.0 if left >= 0 else -math.inf))
    return min(fractions)


def fits_count(allocated: Amount, need: Amount, capacity: Amount) -> int | None:
    """How many more claims of ``need`` fit next to ``allocated``; None when ``need`` is zero."""
    counts = [
        max(0, (capacity.get(r) - allocated.get(r)) // need.get(r)) for r in RESOURCES if need.get(r) > 0
    ]
    return min(counts) if counts else None


@dataclass(frozen=True)
class Candidate:
    """A server a new claim could go to: every other claim on it, and its capacity."""

    key: str
    others: Amount
    capacity: Amount


def choose(candidates: Sequence[Candidate], need: Amount) -> Candidate | None:
    """The fitting candidate with the most headroom for ``need`` (the first listed on a tie); None
    when it fits on none."""
    best: tuple[float, Candidate] | None = None
    for candidate in candidates:
        if shortfalls(candidate.others, need, candidate.capacity):
            continue
        room = headroom(candidate.others, need, candidate.capacity)
        if best is None or room > best[0]:
            best = (room, candidate)
    return best[1] if best else None
