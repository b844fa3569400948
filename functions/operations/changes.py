"""What a provision would change on an existing stack, shown before it changes anything (like a plan).

Parameters old → new (secret ones only as "changed"), services and volumes added or removed, whether
the compose or the variables change, and whether the running service restarts. Removing a service or
a volume is destructive: the operation needs explicit confirmation (``--yes``) for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MASK = "(secret)"


class ParamChange(BaseModel):
    name: str
    old: Any = None
    new: Any = None


class ChangePlan(BaseModel):
    """The difference between a stack as it is and as this provision would make it."""

    stack: str
    new_stack: bool
    params: list[ParamChange] = Field(default_factory=list)
    secrets_changed: list[str] = Field(default_factory=list)
    dropped_params: list[str] = Field(default_factory=list)
    services_added: list[str] = Field(default_factory=list)
    services_removed: list[str] = Field(default_factory=list)
    volumes_added: list[str] = Field(default_factory=list)
    volumes_removed: list[str] = Field(default_factory=list)
    compose_changed: bool = False
    restart: bool = False

    @property
    def changed(self) -> bool:
        return (
            self.new_stack
            or self.compose_changed
            or bool(self.params or self.secrets_changed or self.dropped_params)
        )

    @property
    def destructive(self) -> bool:
        return bool(self.services_removed or self.volumes_removed)

    def lines(self) -> list[str]:
        """The plan for a person, one change per line ("" when nothing changes)."""
        if self.new_stack:
            return [f"+ new stack {self.stack}"]
        out = [f"~ {c.name}: {_show(c.old)} → {_show(c.new)}" for c in self.params]
        out += [f"~ {name}: {MASK} changed" for name in self.secrets_changed]
        out += [f"- {name}: dropped (the template no longer has it)" for name in self.dropped_params]
        out += [f"+ service {name}" for name in self.services_added]
        out += [f"- service {name} (removed)" for name in self.services_removed]
        out += [f"+ volume {name}" for name in self.volumes_added]
        out += [
            f"- volume {name} (no longer mounted; its data stays on the host)"
            for name in self.volumes_removed
        ]
        if out:
            out.append("the running service restarts" if self.restart else "no restart needed")
        return out


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    text = str(value)
    return repr(text[:60] + "…") if len(text) > 60 else repr(text)


def plan_changes(
    *,
    stack: str,
    existing_params: dict[str, Any] | None,
    new_params: dict[str, Any],
    secrets_changed: list[str],
    dropped_params: list[str],
    old_compose: dict[str, Any] | None,
    new_compose: dict[str, Any],
    compose_changed: bool,
    running: bool,
) -> ChangePlan:
    """Compare the stack's stored state with what this provision renders. ``existing_params`` None:
    a new stack. ``old_compose``: the stored parameters rendered again (None when that fails)."""
    if existing_params is None:
        return ChangePlan(stack=stack, new_stack=True)
    params = [
        ParamChange(name=name, old=existing_params.get(name), new=new_params.get(name))
        for name in sorted(set(existing_params) | set(new_params))
        if existing_params.get(name) != new_params.get(name) and name not in dropped_params
    ]
    old_services = set((old_compose or {}).get("services") or {})
    new_services = set(new_compose.get("services") or {})
    old_volumes = set((old_compose or {}).get("volumes") or {})
    new_volumes = set(new_compose.get("volumes") or {})
    known = old_compose is not None
    return ChangePlan(
        stack=stack,
        new_stack=False,
        params=params,
        secrets_changed=sorted(secrets_changed),
        dropped_params=sorted(dropped_params),
        services_added=sorted(new_services - old_services) if known else [],
        services_removed=sorted(old_services - new_services) if known else [],
        volumes_added=sorted(new_volumes - old_volumes) if known else [],
        volumes_removed=sorted(old_volumes - new_volumes) if known else [],
        compose_changed=compose_changed,
        restart=running and (compose_changed or bool(secrets_changed)),
    )
