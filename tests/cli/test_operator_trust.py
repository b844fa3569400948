"""What an operator found false or stuck, fixed at the root: a wrong Coolify URL, signals, pipes,
re-runs that reverted parameters."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import httpx
import pytest

from shared.pocketbase.embedded import PocketBaseServer
from tests.cli.conftest import Cfa, CfaProcess
from tests.cli.test_cli import provision_args
from tests.fakes.coolify import FakeCoolify


def stacks(pocketbase: PocketBaseServer) -> list[dict[str, Any]]:
    with httpx.Client(base_url=pocketbase.url) as http:
        token = http.post(
            "/api/collections/_superusers/auth-with-password",
            json={"identity": pocketbase.email, "password": pocketbase.password.get_secret_value()},
        ).json()["token"]
        items: list[dict[str, Any]] = []
        for collection in ("stacks", "operation_locks"):
            got = http.get(f"/api/collections/{collection}/records", headers={"Authorization": token})
            items += [{"collection": collection, **item} for item in got.json()["items"]]
        return items


def records_of(pocketbase: PocketBaseServer, collection: str) -> list[dict[str, Any]]:
    return [r for r in stacks(pocketbase) if r["collection"] == collection]


def ready(cfa: Cfa, url: str) -> None:
    assert cfa("pb", "migrate")[0] == 0
    assert cfa("tenants", "create", "acme", "--plan", "team")[0] == 0
    code, _, err = cfa(*provision_args(), coolify=url)
    assert code == 0, err


class TestWrongCoolifyUrl:
    def test_status_and_provision_say_so_and_mark_nothing(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str], pocketbase: PocketBaseServer
    ) -> None:
        """With the URL ending in /api/v1, status and provision exit 6 naming the mistake; no stack
        is shown missing or recorded failed."""
        fake, url = served_coolify
        ready(cfa, url)
        for command in (["status", "acme"], provision_args()):
            code, out, err = cfa(*command, coolify=url + "/api/v1")
            assert code == 6, err
            last = err.strip().splitlines()[-1]
            assert "is not a Coolify API" in last and "must not end in /api or /api/v1" in last
            assert "set CFA_COOLIFY_URL to Coolify's own address" in last
            assert "missing" not in out
        assert all("/api/v1/api/v1/" in v for v in fake.spec_violations)  # the wrong paths, on purpose
        fake.spec_violations.clear()
        (stack,) = records_of(pocketbase, "stacks")
        assert (stack["status"], stack["coolify_service_uuid"] != "") == ("running", True)
        code, out, _ = cfa("status", "acme", "--json", coolify=url)
        assert json.loads(out)["stacks"][0]["coolify_status"] == "running:healthy"

    def test_doctor_names_it_and_goes_on_checking(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str], compose_loader: object
    ) -> None:
        """doctor fails the Coolify check with the advice, skips what needs the API, and still checks
        PocketBase, Compose and the templates."""
        fake, url = served_coolify
        cfa("pb", "migrate")
        code, out, _ = cfa("doctor", "--json", coolify=url + "/api/v1")
        fake.spec_violations.clear()  # /api/v1/api/v1/version, on purpose
        checks = {c["name"]: c for c in json.loads(out)}
        assert code == 6
        assert checks["coolify"]["outcome"] == "fail" and "not a Coolify API" in checks["coolify"]["detail"]
        assert checks["coolify ability write"]["outcome"] == "skip"
        assert [checks[n]["outcome"] for n in ("pocketbase schema", "compose", "templates")] == ["ok"] * 3

    def test_doctor_reports_a_url_without_token_instead_of_stopping(
        self, cfa: Cfa, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A setting that stops every other command is one failed check for doctor."""
        monkeypatch.setenv("CFA_COOLIFY_URL", "https://coolify.example.com")
        code, out, _ = cfa("doctor", "--json")
        checks = {c["name"]: c for c in json.loads(out)}
        assert code == 6
        assert "CFA_COOLIFY_TOKEN is not" in checks["configuration"]["detail"]
        assert checks["router"]["outcome"] == "ok"


class TestSignals:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
    def test_a_killed_command_releases_the_tenant_lock(
        self,
        signum: int,
        cfa: Cfa,
        cfa_process: CfaProcess,
        served_coolify: tuple[FakeCoolify, str],
        pocketbase: PocketBaseServer,
    ) -> None:
        """SIGTERM and SIGHUP (a dropped SSH session) act like Ctrl-C: the operation is cancelled, the
        lock released, the exit code says which signal; the re-run is not told the tenant is busy."""
        fake, _ = served_coolify
        cfa("pb", "migrate")
        cfa("tenants", "create", "acme", "--plan", "starter")
        fake.state.transition_delay = 600.0  # the start never settles while we watch
        process = cfa_process.start(*provision_args())
        deadline = time.monotonic() + 60
        while not fake.calls_to("POST", r"/start$"):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert records_of(pocketbase, "operation_locks")
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 128 + signum
        assert f"interrupted by {signal.Signals(signum).name}; re-running the same command is safe" in err
        assert records_of(pocketbase, "operation_locks") == []
        (service,) = fake.state.services.values()
        fake.set_status(service.uuid, "running:healthy")  # the queued start completes after all
        done = cfa_process.run(*provision_args())
        assert done.returncode == 0, done.stderr


def test_output_into_a_closed_pipe_is_not_an_error(
    cfa: Cfa, cfa_process: CfaProcess, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """`cfa audit --limit 1000 | head -1` after the work succeeded: exit 0, no traceback."""
    cfa("pb", "migrate")
    for number in range(40):
        cfa("tenants", "create", f"tenant-{number:02d}", "--plan", "starter", "--name", "x" * 150)
    process = cfa_process.start("audit", "--limit", "1000", "--json")
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert first.strip() == "["
    assert process.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


class TestRerunKeepsParameters:
    def test_an_omitted_parameter_keeps_its_stored_value(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
    ) -> None:
        """Re-running without --param model=… keeps the model; the plan says nothing changes."""
        fake, url = served_coolify
        ready(cfa, url)
        code, out, err = cfa(*provision_args("--param", "model=gpt-4.1-mini"), coolify=url)
        assert code == 0, err
        assert "~ model: 'gpt-4o-mini' → 'gpt-4.1-mini'" in err and "the running service restarts" in err
        patches = len(fake.calls_to("PATCH", r"/services/[^/]+$"))
        code, out, err = cfa("provision", "acme", "telegram-bot", "--name", "bot", "--json", coolify=url)
        result = json.loads(out)
        assert code == 0 and result["changed"] is False
        assert len(fake.calls_to("PATCH", r"/services/[^/]+$")) == patches
        (service,) = fake.state.services.values()
        assert service.compose is not None and "gpt-4.1-mini" in service.compose.text

    def test_removing_a_service_needs_yes(self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str]) -> None:
        """llm-workspace: omitting gateway keeps LiteLLM; switching it off removes a service and is
        refused without --yes (nothing changes), then done with it."""
        fake, url = served_coolify
        cfa("pb", "migrate")
        cfa("tenants", "create", "acme", "--plan", "team")
        base = ["provision", "acme", "llm-workspace", "--param", "router_api_key=sk-router-key-0000000001"]
        code, _, err = cfa(
            *base, "--param", "admin_email=ops@example.com", "--param", "gateway=litellm", coolify=url
        )
        assert code == 0, err
        code, _, err = cfa(*base, coolify=url)
        assert code == 0, err
        (service,) = fake.state.services.values()
        assert service.compose is not None and "litellm:" in service.compose.text
        writes = len(fake.write_calls)
        code, _, err = cfa(*base, "--param", "gateway=router", coolify=url)
        assert code == 2
        assert "- service litellm (removed)" in err
        assert err.strip().splitlines()[-1].startswith("cfa: --yes: this change removes service litellm")
        assert len(fake.write_calls) == writes
        code, out, err = cfa(*base, "--param", "gateway=router", "--yes", "--json", coolify=url)
        assert code == 0, err
        assert json.loads(out)["plan"]["services_removed"] == ["litellm"]
        assert service.compose is not None and "litellm:" not in service.compose.text


class TestTenantLifecycle:
    def test_plan_change_suspend_resume_and_delete_from_the_cli(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str], pocketbase: PocketBaseServer
    ) -> None:
        """update --plan redeploys under the new limits; suspend/resume; delete asks for --yes."""
        fake, url = served_coolify
        cfa("pb", "migrate")
        cfa("tenants", "create", "acme", "--plan", "starter")
        assert cfa(*provision_args(), coolify=url)[0] == 0
        (service,) = fake.state.services.values()

        code, out, err = cfa("tenants", "update", "acme", "--plan", "team", "--json", coolify=url)
        assert code == 0, err
        result = json.loads(out)
        assert (result["changed"], result["plan"], result["stacks"][0]["status"]) == (True, "team", "running")
        assert service.compose is not None and "mem_limit: 384M" in service.compose.text

        code, _, err = cfa("tenants", "update", "acme", "--plan", "gold", coolify=url)
        assert code == 2 and "use one of" in err

        assert cfa("tenants", "suspend", "acme", coolify=url)[0] == 0
        assert service.status == "exited"
        code, out, _ = cfa("tenants", "resume", "acme", coolify=url)
        assert code == 0 and "tenant acme resumed (plan team, active)" in out
        assert service.status == "running:healthy"

        code, _, err = cfa("tenants", "delete", "acme", coolify=url)
        assert code == 2 and "refusing to delete tenant acme" in err and "--yes" in err
        code, _, err = cfa("delete", "acme/bot", "--delete-volumes", coolify=url)
        assert code == 2 and "without confirmation" in err
        assert fake.deletions == []
        code, out, err = cfa("tenants", "delete", "acme", "--yes", coolify=url)
        assert code == 0, err
        assert fake.state.services == {} and [d.delete_volumes for d in fake.deletions] == [False]

    def test_a_downgrade_that_does_not_fit_exits_4_with_nothing_changed(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
    ) -> None:
        """team with three stacks → starter (2 stacks): refused, exit 4, the plan stays."""
        _, url = served_coolify
        cfa("pb", "migrate")
        cfa("tenants", "create", "acme", "--plan", "team")
        for name in ("one", "two", "six"):
            args = provision_args()
            args[args.index("bot")] = name
            assert cfa(*args, coolify=url)[0] == 0
        code, _, err = cfa("tenants", "update", "acme", "--plan", "starter", coolify=url)
        assert code == 4 and "plan starter allows 2 stacks; tenant acme has 3" in err
        assert json.loads(cfa("tenants", "list", "--json")[1])[0]["plan"] == "team"

    def test_status_without_a_tenant_is_an_overview(
        self, cfa: Cfa, served_coolify: tuple[FakeCoolify, str]
    ) -> None:
        """Every tenant with stack counts by status, quota and reserved resources; failing and drifting
        stacks are named."""
        fake, url = served_coolify
        cfa("pb", "migrate")
        cfa("tenants", "create", "acme", "--plan", "starter")
        cfa("tenants", "create", "globex", "--plan", "team")
        assert cfa(*provision_args(), coolify=url)[0] == 0
        (service,) = fake.state.services.values()
        fake.set_status(service.uuid, "exited")
        code, out, err = cfa("status", coolify=url)
        assert code == 0, err
        assert "acme    starter  active  1/2     0.25  256 MiB  failed 1" in out
        assert "globex  team     active  0/10    0     0 MiB    -" in out
        assert "failing in acme: bot" in out and "drifting in acme: bot" in out
        summary = json.loads(cfa("status", "--json", coolify=url)[1])
        assert summary["by_status"] == {"failed": 1}
