"""The capacity arithmetic: budgets and overcommit parsed with clear errors, exact sums, shortfalls only
where a claim grows, headroom, how many more fit, and the choice of a server."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.capacity import (
    Amount,
    Candidate,
    Overcommit,
    ServerBudget,
    budget_for,
    capacity_of,
    choose,
    fits_count,
    format_bytes,
    headroom,
    parse_bytes,
    parse_capacity,
    parse_overcommit,
    shortfalls,
    total,
)
from shared.settings import Settings

GIB = 1024**3
MIB = 1024**2


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("31G", 31 * GIB),
        ("31GiB", 31 * GIB),
        ("31gb", 31 * GIB),
        ("512M", 512 * MIB),
        ("1.5T", int(1.5 * 1024**4)),
        ("4096", 4096),
        (4096, 4096),
    ],
)
def test_sizes_are_binary_units_or_bytes(given: object, size: int) -> None:
    assert parse_bytes(given) == size


@pytest.mark.parametrize("given", ["31X", "", "-1G", True, None, [1]])
def test_a_bad_size_says_what_a_size_looks_like(given: object) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 31G, 512M"):
        parse_bytes(given)


def test_the_seed_host_budget_parses_from_json() -> None:
    """12 cores, 31 GB of memory, 24 GB of disk, for every server."""
    budgets = parse_capacity('{"default": {"cpus": 12, "memory": "31G", "disk": "24G"}}')
    assert budgets == {"default": ServerBudget(cpus=12, memory=31 * GIB, disk=24 * GIB)}


def test_a_server_entry_wins_over_the_default() -> None:
    budgets = parse_capacity(
        {
            "default": {"cpus": 4, "memory": "8G", "disk": 0},
            "srv-a": {"cpus": 12, "memory": "31G", "disk": "24G"},
        }
    )
    assert budget_for(budgets, "srv-a") == (budgets["srv-a"], "server")
    assert budget_for(budgets, "srv-b") == (budgets["default"], "default")
    assert budget_for({"srv-a": budgets["srv-a"]}, "srv-b") == (None, "")


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"default": {"cpus": 12, "memory": "31G"}}', "default: disk: Field required"),
        ('{"default": {"cpus": 0, "memory": "31G", "disk": 0}}', "cpus: Input should be greater than 0"),
        ('{"default": {"cpus": 1, "memory": "lots", "disk": 0}}', "default: memory"),
        ('{"default": {"cpus": 1, "memory": "1G", "disk": 0, "gpus": 1}}', "gpus: Extra inputs"),
    ],
)
def test_a_bad_budget_names_the_entry_and_the_problem(given: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_capacity(given)


def test_overcommit_defaults_cpu_to_two_and_refuses_unknown_keys() -> None:
    assert parse_overcommit("") == Overcommit(cpu=2.0, memory=1.0, disk=1.0)
    assert parse_overcommit('{"memory": 1.5}') == Overcommit(cpu=2.0, memory=1.5, disk=1.0)
    with pytest.raises(ValueError, match="mem: Extra inputs"):
        parse_overcommit('{"mem": 2}')
    with pytest.raises(ValueError, match="greater than 0"):
        parse_overcommit('{"cpu": 0}')


def test_settings_read_both_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFA_CAPACITY", '{"default": {"cpus": 12, "memory": "31G", "disk": "24G"}}')
    monkeypatch.setenv("CFA_CAPACITY_OVERCOMMIT", '{"cpu": 3}')
    settings = Settings()
    assert settings.capacity["default"].memory == 31 * GIB
    assert settings.capacity_overcommit.cpu == 3.0
    monkeypatch.setenv("CFA_CAPACITY", '{"default": {"cpus": 12}}')
    with pytest.raises(ValidationError, match="capacity"):
        Settings()


def test_capacity_is_budget_times_overcommit_in_exact_units() -> None:
    budget = ServerBudget(cpus=12, memory=31 * GIB, disk=24 * GIB)
    assert capacity_of(budget, Overcommit()) == Amount(cpu=24_000, memory=31 * GIB, disk=24 * GIB)
    assert capacity_of(budget, Overcommit(cpu=1.0, memory=0.5, disk=1.0)).memory == 31 * GIB // 2


def test_amounts_sum_exactly_where_floats_would_not() -> None:
    """Ten claims of 0.1 CPU are exactly one CPU (0.1 * 10 != 1.0 in floating point)."""
    tenth = Amount.of(0.1, 0, 0)
    assert total([tenth] * 10) == Amount(cpu=1000)
    assert total([tenth] * 10).cpus == 1.0


def test_a_claim_that_fits_has_no_shortfall_and_one_that_does_not_names_each_resource() -> None:
    capacity = Amount(cpu=2000, memory=4 * GIB, disk=10 * GIB)
    others = Amount(cpu=1500, memory=3 * GIB, disk=0)
    assert shortfalls(others, Amount(cpu=500, memory=GIB, disk=10 * GIB), capacity) == []
    short = shortfalls(others, Amount(cpu=750, memory=2 * GIB, disk=GIB), capacity)
    assert [(s.resource, s.needed, s.free) for s in short] == [("cpu", 750, 500), ("memory", 2 * GIB, GIB)]
    assert short[1].describe() == "memory needs 2.0 GiB, 1.0 GiB free of 4.0 GiB"


def test_a_resource_whose_claim_does_not_grow_is_never_a_shortfall() -> None:
    """On a server already over its budget (it was lowered), re-running or downgrading a stack is
    allowed; growing it is not."""
    capacity = Amount(cpu=1000, memory=GIB, disk=0)
    others = Amount(cpu=1000, memory=GIB, disk=0)
    current = Amount(cpu=500, memory=512 * MIB, disk=0)
    assert shortfalls(others, current, capacity, current=current) == []
    assert shortfalls(others, Amount(cpu=250, memory=256 * MIB), capacity, current=current) == []
    grown = shortfalls(others, Amount(cpu=500, memory=768 * MIB), capacity, current=current)
    assert [s.resource for s in grown] == ["memory"]


def test_a_stateful_claim_needs_disk_a_stateless_one_does_not() -> None:
    capacity = Amount(cpu=1000, memory=GIB, disk=0)
    assert shortfalls(Amount(), Amount(cpu=250, memory=MIB), capacity) == []
    assert [s.resource for s in shortfalls(Amount(), Amount(cpu=250, memory=MIB, disk=1), capacity)] == [
        "disk"
    ]


def test_headroom_is_the_smallest_free_fraction_over_the_resources_needed() -> None:
    capacity = Amount(cpu=4000, memory=8 * GIB, disk=10 * GIB)
    others = Amount(cpu=1000, memory=6 * GIB, disk=10 * GIB)
    need = Amount(cpu=1000, memory=GIB)
    # cpu: (4-1-1)/4 = 0.5, memory: (8-6-1)/8 = 0.125; disk is full but not needed.
    assert headroom(others, need, capacity) == 0.125
    assert headroom(others, Amount(cpu=1000, memory=GIB, disk=1), capacity) < 0


def test_how_many_more_fit_is_limited_by_the_scarcest_resource() -> None:
    capacity = Amount(cpu=24_000, memory=31 * GIB, disk=24 * GIB)
    workspace = Amount(cpu=2000, memory=3 * GIB, disk=5 * GIB)
    assert fits_count(Amount(), workspace, capacity) == 4  # disk: 24 // 5
    assert fits_count(Amount(disk=20 * GIB), workspace, capacity) == 0
    assert fits_count(Amount(cpu=30_000), Amount(cpu=250, memory=MIB), capacity) == 0  # already over
    assert fits_count(Amount(), Amount(), capacity) is None


def test_the_server_with_the_most_headroom_is_chosen_and_a_full_one_never() -> None:
    capacity = Amount(cpu=4000, memory=8 * GIB, disk=10 * GIB)
    need = Amount(cpu=500, memory=GIB, disk=GIB)
    busy = Candidate("busy", Amount(cpu=3000, memory=4 * GIB, disk=2 * GIB), capacity)
    quiet = Candidate("quiet", Amount(cpu=1000, memory=2 * GIB, disk=2 * GIB), capacity)
    full = Candidate("full", Amount(cpu=0, memory=0, disk=10 * GIB), capacity)
    assert choose([busy, quiet], need) is quiet
    assert choose([full, busy], need) is busy
    assert choose([full], need) is None


def test_a_tie_goes_to_the_first_server_listed() -> None:
    capacity = Amount(cpu=4000, memory=8 * GIB, disk=10 * GIB)
    first, second = Candidate("a", Amount(), capacity), Candidate("b", Amount(), capacity)
    assert choose([first, second], Amount(cpu=1, memory=1)) is first


def test_sizes_are_shown_in_binary_units() -> None:
    assert (format_bytes(512), format_bytes(640 * MIB), format_bytes(31 * GIB)) == (
        "512 B",
        "640.0 MiB",
        "31.0 GiB",
    )
