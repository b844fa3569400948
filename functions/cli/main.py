"""Entry point of the ``cfa`` command (filled in by the provisioning core)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("cfa: not implemented yet")
