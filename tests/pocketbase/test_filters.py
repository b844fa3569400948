"""Filter parameter binding, checked against a real PocketBase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_filter, quote

HOSTILE_NAMES = [
    "O'Reilly",
    "back\\slash",
    "trailing\\",
    "' || name != '",
    "\\' || 1=1 || '",
    'double "quotes"',
    "new\nline",
    "{:name}",
    "unicode ✓ ü",
]


class TestQuote:
    def test_escapes_quotes_and_backslashes(self) -> None:
        """Quotes and backslashes are escaped so a value can never close its literal."""
        assert quote("a'b\\c") == "'a\\'b\\\\c'"

    def test_formats_datetimes_the_way_pocketbase_compares_them(self) -> None:
        """Aware datetimes become 'YYYY-MM-DD HH:MM:SS.mmmZ' in UTC (the ISO 'T' form never matches)."""
        moment = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=timezone(timedelta(hours=2)))
        assert quote(moment) == "'2026-03-04 03:06:07.890Z'"

    def test_refuses_naive_datetimes(self) -> None:
        """A naive datetime is ambiguous and refused."""
        with pytest.raises(ValueError, match="naive"):
            quote(datetime(2026, 1, 1))

    def test_literals(self) -> None:
        """None, booleans and numbers render as PocketBase literals."""
        assert [quote(None), quote(True), quote(3), quote(1.5)] == ["null", "true", "3", "1.5"]


class TestPbFilter:
    def test_substitutes_placeholders(self) -> None:
        """Each {:name} is replaced by its quoted value."""
        assert pb_filter("slug = {:slug} && n > {:n}", slug="acme", n=2) == "slug = 'acme' && n > 2"

    def test_missing_value_is_an_error(self) -> None:
        """A placeholder without a value raises instead of producing a broken filter."""
        with pytest.raises(KeyError):
            pb_filter("slug = {:slug}")

    def test_unused_value_is_an_error(self) -> None:
        """A value without a placeholder raises, so a typo cannot silently widen a query."""
        with pytest.raises(ValueError, match="slg"):
            pb_filter("slug = {:slug}", slug="a", slg="b")

    def test_value_containing_a_placeholder_is_not_expanded(self) -> None:
        """Substitution is single-pass: a value that looks like a placeholder stays a literal."""
        assert pb_filter("a = {:a} && b = {:b}", a="{:b}", b="x") == "a = '{:b}' && b = 'x'"


@pytest.mark.anyio
@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
async def test_hostile_values_match_exactly_one_record(pb: PocketBase, hostile: str) -> None:
    """Against real PocketBase, a bound hostile value matches exactly the record holding it, nothing else."""
    await pb.create_record("audit_events", {"actor": "t", "action": "decoy", "outcome": "ok", "stack": "x"})
    target = await pb.create_record(
        "audit_events", {"actor": hostile, "action": "probe", "outcome": "ok", "stack": "y"}
    )
    found = await pb.list_records("audit_events", filter=pb_filter("actor = {:actor}", actor=hostile))
    assert [r["id"] for r in found] == [target["id"]]


@pytest.mark.anyio
async def test_datetime_binding_matches_records(pb: PocketBase) -> None:
    """A bound datetime compares correctly with PocketBase's stored autodates."""
    before = datetime.now(UTC) - timedelta(minutes=5)
    await pb.create_record("audit_events", {"actor": "t", "action": "a", "outcome": "ok"})
    newer = await pb.list_records("audit_events", filter=pb_filter("time >= {:t}", t=before))
    older = await pb.list_records("audit_events", filter=pb_filter("time < {:t}", t=before))
    assert (len(newer), len(older)) == (1, 0)
