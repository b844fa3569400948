"""Tests for monitor.silences: scopes, expiry and lifting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.silences import SilenceStore
from monitor.store import Database
from tests.monitor.fakes import T0


@pytest.fixture
def silences(tmp_path: Path) -> Iterator[SilenceStore]:
    db = Database(tmp_path / "m.db")
    yield SilenceStore(db)
    db.close()


def add(store: SilenceStore, **scope: str | None) -> str:
    values: dict[str, str | None] = {"tenant": "acme", "stack": None, "kind": None}
    values.update(scope)
    silence = store.add(
        tenant=values["tenant"] or "",
        stack=values["stack"],
        kind=values["kind"],
        now=T0,
        duration=3600,
        reason="upgrade",
        created_by="cli:ops",
    )
    return silence.id


def test_tenant_silence_covers_every_stack_and_kind_until_it_expires(silences: SilenceStore) -> None:
    """A tenant-wide silence matches any stack and kind, and stops matching at its end."""
    add(silences)
    assert silences.matching("acme", "bot", "oom-killed", T0 + 10) is not None
    assert silences.matching("other", "bot", "oom-killed", T0 + 10) is None
    assert silences.matching("acme", "bot", "oom-killed", T0 + 3600) is None


def test_narrow_silences_match_only_their_stack_and_kind(silences: SilenceStore) -> None:
    """--stack and --kind narrow the scope."""
    add(silences, stack="bot", kind="crash-loop")
    assert silences.matching("acme", "bot", "crash-loop", T0) is not None
    assert silences.matching("acme", "web", "crash-loop", T0) is None
    assert silences.matching("acme", "bot", "oom-killed", T0) is None
    assert silences.matching(None, None, "crash-loop", T0) is None


def test_lifting_a_silence_ends_it_and_listing_shows_history(silences: SilenceStore) -> None:
    """unsilence works once; expired and lifted silences are listed only on request."""
    silence_id = add(silences)
    assert silences.cancel(silence_id, T0 + 1) is True
    assert silences.cancel(silence_id, T0 + 2) is False
    assert silences.matching("acme", "bot", "oom-killed", T0 + 3) is None
    assert silences.list(T0 + 3) == []
    [listed] = silences.list(T0 + 3, include_expired=True)
    assert listed.cancelled_at == T0 + 1 and listed.scope() == "tenant acme"


def test_ended_silences_are_pruned_after_retention(silences: SilenceStore) -> None:
    """Only silences that ended before the cut-off are forgotten."""
    lifted, running = add(silences), add(silences, tenant="other")
    silences.cancel(lifted, T0 + 5)
    assert silences.prune(T0 + 10) == 1
    assert [s.id for s in silences.list(T0 + 11, include_expired=True)] == [running]
