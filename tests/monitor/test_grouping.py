"""Tests for monitor.grouping: the first page at once, the rest of a burst in one summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.grouping import Grouper
from monitor.outbox import Outbox
from monitor.store import Database
from tests.monitor.fakes import T0, item


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    db = Database(tmp_path / "m.db")
    yield Outbox(db)
    db.close()


def ready_titles(outbox: Outbox) -> list[str]:
    titles = []
    while (row := outbox.next_due(T0 + 10_000)) is not None:
        titles.append(row.message.title)
        outbox.delivered(row.id)
    return titles


def test_first_goes_at_once_and_the_burst_is_one_summary(outbox: Outbox) -> None:
    """Never delay the first page; fold the next ones; flush after the window."""
    grouper = Grouper(outbox, window=10, host="h1", runbook_base="https://x/")
    assert grouper.offer(item(), T0) is True
    assert grouper.offer(item(id="b"), T0 + 1) is False
    assert grouper.offer(item(id="c"), T0 + 2) is False
    grouper.flush(T0 + 5)
    assert outbox.pending() == {"held": 2, "ready": 1}
    grouper.flush(T0 + 10)
    assert ready_titles(outbox) == [
        "[CRITICAL] OOM killed — tenant acme / stack bot",
        "[CRITICAL] 2 alert(s) on host h1 (grouped)",
    ]


def test_a_single_held_item_goes_out_as_itself_and_a_quiet_window_ends_the_burst(outbox: Outbox) -> None:
    """One straggler is not a 'summary'; after a quiet window the next page is immediate again."""
    grouper = Grouper(outbox, window=10, host="h1", runbook_base="https://x/")
    grouper.offer(item(), T0)
    grouper.offer(item("resolved"), T0 + 3)
    grouper.flush(T0 + 10)
    grouper.flush(T0 + 20)
    assert grouper.offer(item(id="later"), T0 + 21) is True
    assert ready_titles(outbox) == [
        "[CRITICAL] OOM killed — tenant acme / stack bot",
        "[RESOLVED] OOM killed — tenant acme / stack bot",
        "[CRITICAL] OOM killed — tenant acme / stack bot",
    ]


def test_held_items_left_by_a_previous_run_are_flushed(outbox: Outbox) -> None:
    """After a restart (no window in memory) held rows still go out."""
    outbox.hold(item(), T0)
    Grouper(outbox, window=10, host="h1", runbook_base="https://x/").flush(T0 + 1)
    assert outbox.pending() == {"held": 0, "ready": 1}


def test_window_zero_sends_everything_at_once(outbox: Outbox) -> None:
    """Grouping off."""
    grouper = Grouper(outbox, window=0, host="h1", runbook_base="https://x/")
    assert all(grouper.offer(item(id=str(i)), T0) for i in range(3))
    assert outbox.pending() == {"held": 0, "ready": 3}
