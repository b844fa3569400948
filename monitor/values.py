"""The base of the monitor's value objects: frozen pydantic models that reject unknown fields.

Events (what the processing loop reacts to) are a closed set of their own in :mod:`monitor.events`;
everything else built on this (findings, incidents, snapshots, messages …) is plain data.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
