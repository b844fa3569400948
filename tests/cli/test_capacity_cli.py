"""`cfa capacity`, the exit code of a refusal, a bad CFA_CAPACITY, and doctor's capacity check."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cfa
from tests.cli.test_cli import provision_args
from tests.fakes.coolify import FakeCoolify

SEED_HOST = '{"default": {"cpus": 12, "memory": "31G", "disk": "24G"}}'


def test_capacity_shows_allocated_and_budget_and_what_still_fits(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = served_coolify
    monkeypatch.setenv("CFA_CAPACITY", SEED_HOST)
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    assert cfa(*provision_args(), coolify=url)[0] == 0

    code, out, _ = cfa("capacity", coolify=url)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "capacity: budgets from CFA_CAPACITY; overcommit cpu x2, memory x1, disk x1"
    server = next(line for line in lines if line.startswith("localhost"))
    assert f"localhost ({fake.servers[0].uuid})  usable   yes         default  1" in server
    assert "0.25 CPUs / 24 CPUs (12 CPUs x2)" in server and "256.0 MiB / 31.0 GiB" in server
    bots = next(line for line in lines if line.startswith("telegram-bot    starter"))
    assert bots.split()[-2:] == ["95", "95"]  # cpu: (24 - 0.25) // 0.25

    code, out, _ = cfa("capacity", "--json", coolify=url)
    report = json.loads(out)
    assert report["configured"] and report["servers"][0]["stacks"] == ["acme/bot"]


def test_capacity_without_a_budget_says_capacity_is_unknown(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
) -> None:
    _, url = served_coolify
    cfa("pb", "migrate")
    code, out, _ = cfa("capacity", coolify=url)
    assert code == 0
    assert "note: capacity is unknown: CFA_CAPACITY is not set, so nothing is refused" in out


def test_a_refused_provision_exits_11_with_one_line(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = served_coolify
    monkeypatch.setenv("CFA_CAPACITY", '{"default": {"cpus": 0.1, "memory": "1G", "disk": "0"}}')
    cfa("pb", "migrate")
    cfa("tenants", "create", "acme", "--plan", "starter")
    code, out, err = cfa(*provision_args(), coolify=url)
    assert (code, out) == (11, "")
    assert err.strip().splitlines()[-1] == (
        f"cfa: no room on server localhost ({fake.servers[0].uuid}) for acme/bot (telegram-bot, plan "
        "starter): cpu needs 0.25 CPUs, 0.2 CPUs free of 0.2 CPUs — free capacity (delete stacks), add a "
        "Coolify server, or raise CFA_CAPACITY; cfa capacity shows what is allocated"
    )
    assert fake.write_calls == []


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CFA_CAPACITY", '{"default": {"cpus": 12, "memory": "31G"}}', "default: disk: Field required"),
        ("CFA_CAPACITY", "12 cores", "not JSON"),
        ("CFA_CAPACITY_OVERCOMMIT", '{"ram": 2}', "ram: Extra inputs are not permitted"),
    ],
)
def test_a_bad_capacity_setting_exits_6_and_says_what_is_wrong(
    cfa: Cfa, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = cfa("capacity")
    assert code == 6
    assert err.startswith(f"cfa: invalid settings: {variable}: ") and says in err


def test_doctor_compares_the_budgets_with_the_servers_coolify_lists(
    cfa: Cfa, served_coolify: tuple[FakeCoolify, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No budget: a warning. A budget for a server Coolify does not list: a failure naming it (and
    no server left to take new stacks). A default budget: ok."""
    fake, url = served_coolify
    cfa("pb", "migrate")

    def capacity_checks() -> tuple[int, list[tuple[str, str]]]:
        code, out, _ = cfa("doctor", "--json", coolify=url)
        return code, [(c["outcome"], c["detail"]) for c in json.loads(out) if c["name"] == "capacity"]

    code, checks = capacity_checks()
    assert checks == [
        ("warn", "CFA_CAPACITY is not set: capacity is unknown and no provision is refused for it")
    ]
    monkeypatch.setenv("CFA_CAPACITY", '{"gone-server": {"cpus": 4, "memory": "8G", "disk": "10G"}}')
    code, checks = capacity_checks()
    assert code == 6
    assert checks == [
        ("fail", "CFA_CAPACITY budgets server gone-server, which is not listed by Coolify"),
        ("fail", "no usable Coolify server has a budget in CFA_CAPACITY: every new stack is refused"),
    ]
    monkeypatch.setenv("CFA_CAPACITY", SEED_HOST)
    code, checks = capacity_checks()
    assert checks == [("ok", "new stacks go to localhost (cfa capacity shows allocated / budget)")]
    assert fake.state.projects == {}
