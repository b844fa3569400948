"""The fake rewrites a submitted compose as Coolify v4.3.10's service parser does (§15), end to end.

Through the API: a compose goes in, the test reads what Coolify would deploy, the `.env` it writes and
what each container finally gets once Compose has read both.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.compose import encode_compose
from tests.fakes.coolify import FakeCoolify
from tests.fakes.coolify_dotenv import real_value
from tests.fakes.coolify_envparse import replace_variables, split_operator
from tests.fakes.coolify_state import EnvVar
from tests.fakes.fixtures import service_body

pytestmark = pytest.mark.anyio


def compose(environment: dict[str, str], name: str = "app") -> str:
    lines = [f"      {key}: {value!r}" for key, value in environment.items()]
    return f"services:\n  {name}:\n    image: registry.example.com/app:1.0\n    environment:\n" + "\n".join(
        lines
    )


async def create(client: httpx.AsyncClient, fake: FakeCoolify, text: str, **overrides: Any) -> httpx.Response:
    project = (await client.post("/projects", json={"name": "tenant-acme"})).json()["uuid"]
    body = service_body(project, fake.servers[0].uuid, docker_compose_raw=encode_compose(text), **overrides)
    return await client.post("/services", json=body)


async def created(client: httpx.AsyncClient, fake: FakeCoolify, text: str) -> str:
    response = await create(client, fake, text)
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


async def started(
    client: httpx.AsyncClient, fake: FakeCoolify, clock: FakeClock, text: str, envs: dict[str, str]
) -> str:
    uuid = await created(client, fake, text)
    if envs:
        data = [{"key": k, "value": v, "is_literal": True} for k, v in envs.items()]
        assert (await client.patch(f"/services/{uuid}/envs/bulk", json={"data": data})).status_code == 201
    assert (await client.post(f"/services/{uuid}/start")).status_code == 200
    clock.advance(1)
    return uuid


class TestValuesStartingWithADollar:
    async def test_create_answers_500_after_saving_the_service(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """`$$5 a month` is read as the variable `$5 a month`: 500, and a half-made service stays."""
        urls = [{"name": "app", "url": "https://acme.example.com:8080"}]
        response = await create(
            coolify_client, coolify_fake, compose({"PROMPT": "$$5 a month"}), urls=urls, tags=["tenant"]
        )
        assert response.status_code == 500
        assert response.json() == {"message": "Server Error"}
        (service,) = coolify_fake.services_named("tenant-acme-stack")
        assert [app.name for app in service.applications] == ["app"]
        assert service.applications[0].fqdn is None and service.tags == []
        listed = (await coolify_client.get("/services")).json()
        assert [s["uuid"] for s in listed] == [service.uuid]

    async def test_patch_answers_500_with_the_new_compose_saved(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A PATCH saves the compose first, so the broken compose is what the service now holds."""
        uuid = await created(coolify_client, coolify_fake, compose({"PROMPT": "fine"}))
        bad = compose({"PROMPT": "$$HOME/x is $$5"})
        response = await coolify_client.patch(
            f"/services/{uuid}",
            json={
                "docker_compose_raw": encode_compose(bad),
                "urls": [{"name": "app", "url": "https://a.test"}],
            },
        )
        assert response.status_code == 500
        service = coolify_fake.service(uuid)
        assert service.compose is not None and "$$5" in service.compose.text
        assert service.applications[0].fqdn is None

    async def test_a_start_then_fails_before_anything_runs(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """The start is queued (200), its job throws in parse(): no activity, the status stays exited."""
        response = await create(coolify_client, coolify_fake, compose({"PROMPT": "$$5"}))
        assert response.status_code == 500
        (service,) = coolify_fake.services_named("tenant-acme-stack")
        assert (await coolify_client.post(f"/services/{service.uuid}/start")).status_code == 200
        coolify_clock.advance(10)
        assert (await coolify_client.get(f"/services/{service.uuid}")).json()["status"] == "exited"
        assert service.activities == [] and len(service.failed_jobs) == 1

    async def test_a_braced_reference_empties_the_variable(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`$${HOME}/x` creates an empty Coolify variable HOME, and the container's HOME becomes empty."""
        uuid = await started(coolify_client, coolify_fake, coolify_clock, compose({"DIR": "$${HOME}/x"}), {})
        assert coolify_fake.env_values(uuid)["HOME"] is None
        environment = coolify_fake.container(uuid, "app").environment
        assert environment["DIR"] == "${HOME}/x" and environment["HOME"] == ""

    async def test_a_dollar_inside_a_value_is_left_alone(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """Only the first character matters: `costs $$5` reaches the container as `costs $5`."""
        uuid = await started(coolify_client, coolify_fake, coolify_clock, compose({"P": "costs $$5"}), {})
        assert coolify_fake.container(uuid, "app").environment["P"] == "costs $5"


class TestSharedVariables:
    async def test_team_variables_are_substituted_and_the_value_trimmed(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`{{team.X}}` in a value becomes the team's shared variable X in the deployed compose."""
        coolify_fake.set_shared_variable("team", "DB_PASSWORD", "team-secret")
        text = compose({"P": "  pw={{team.DB_PASSWORD}} {{ project.NOPE }} {{other.X}}  "})
        uuid = await started(coolify_client, coolify_fake, coolify_clock, text, {})
        expected = "pw=team-secret {{ project.NOPE }} {{other.X}}"
        assert coolify_fake.deployed_compose(uuid)["services"]["app"]["environment"]["P"] == expected
        assert coolify_fake.container(uuid, "app").environment["P"] == expected

    async def test_variables_in_dotenv_are_substituted_too(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """A stored variable holding `{{server.X}}` reaches the container as the shared value."""
        coolify_fake.set_shared_variable("server", "IP", "10.0.0.1")
        uuid = await started(
            coolify_client, coolify_fake, coolify_clock, compose({"K": "${K}"}), {"K": "ip={{server.IP}}"}
        )
        assert coolify_fake.container(uuid, "app").environment["K"] == "ip=10.0.0.1"


class TestMagicVariables:
    async def test_a_service_fqdn_anywhere_in_a_value_gives_the_service_a_public_domain(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """`$$SERVICE_FQDN_APP` inside a text makes Coolify route a generated http domain to `app`."""
        uuid = await created(coolify_client, coolify_fake, compose({"P": "see $$SERVICE_FQDN_APP here"}))
        assert coolify_fake.service(uuid).applications[0].fqdn == f"http://app-{uuid}.127.0.0.1.sslip.io"
        assert {"SERVICE_FQDN_APP", "SERVICE_URL_APP"} <= set(coolify_fake.env_values(uuid))

    async def test_a_generator_anywhere_creates_a_generated_variable(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """`${SERVICE_PASSWORD_X}` in the middle of a text creates a generated password variable."""
        uuid = await created(coolify_client, coolify_fake, compose({"P": "x ${SERVICE_PASSWORD_X} y"}))
        assert len(coolify_fake.env_values(uuid)["SERVICE_PASSWORD_X"] or "") == 32

    async def test_a_magic_name_running_into_non_ascii_text_is_a_500(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """PHP matches bytes, so `$SERVICE_Xü` names the variable `SERVICE_Xü`, which is no valid key."""
        response = await create(coolify_client, coolify_fake, compose({"P": "über $$SERVICE_Xü"}))
        assert response.status_code == 500


class TestSecretReferences:
    async def test_a_required_reference_is_replaced_by_the_plaintext(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`${K:?}` becomes K's stored value in the deployed compose, where Compose interpolates it."""
        uuid = await started(
            coolify_client, coolify_fake, coolify_clock, compose({"K": "${K:?}"}), {"K": "se$cret"}
        )
        assert coolify_fake.deployed_compose(uuid)["services"]["app"]["environment"]["K"] == "se$cret"
        assert coolify_fake.container(uuid, "app").environment["K"] == "se"

    async def test_the_same_key_stays_a_reference_resolved_from_dotenv(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`K: ${K}` stays in the compose; the literal, single-quoted `.env` value reaches the container."""
        uuid = await started(
            coolify_client, coolify_fake, coolify_clock, compose({"K": "${K}"}), {"K": "se$cret {x}"}
        )
        assert coolify_fake.deployed_compose(uuid)["services"]["app"]["environment"]["K"] == "${K}"
        assert "K='se$cret {x}'" in (coolify_fake.service(uuid).dotenv or "").splitlines()
        assert coolify_fake.container(uuid, "app").environment["K"] == "se$cret {x}"

    async def test_another_key_gets_the_plaintext_under_the_variables_name(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`OTHER: ${K}` stays a reference, but the parser adds `K: <plaintext>` next to it."""
        uuid = await started(coolify_client, coolify_fake, coolify_clock, compose({"O": "${K}"}), {"K": "s3"})
        environment = coolify_fake.deployed_compose(uuid)["services"]["app"]["environment"]
        assert environment["O"] == "${K}" and environment["K"] == "s3"

    async def test_a_quote_in_a_literal_value_stops_compose_up(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """Coolify single-quotes literal values without escaping: `it's` breaks `.env` and the start."""
        coolify_fake.state.transition_delay = 3.0
        uuid = await created(coolify_client, coolify_fake, compose({"K": "${K}"}))
        data = [{"key": "K", "value": "it's", "is_literal": True}]
        await coolify_client.patch(f"/services/{uuid}/envs/bulk", json={"data": data})
        await coolify_client.post(f"/services/{uuid}/start")
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "starting:unhealthy"
        coolify_clock.advance(3)
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "exited"
        (activity,) = coolify_fake.service(uuid).activities
        assert activity.status == "error" and "unexpected character" in activity.log


class TestComposeUpFailures:
    async def test_an_injected_failure_shows_starting_then_exited(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """`fail_compose_up`: the next start ends in `exited`, the reason only in the activity log."""
        coolify_fake.state.transition_delay = 3.0
        uuid = await created(coolify_client, coolify_fake, compose({"P": "x"}))
        coolify_fake.fail_compose_up(uuid, message="pull access denied")
        await coolify_client.post(f"/services/{uuid}/start")
        seen = []
        for _ in range(3):
            seen.append((await coolify_client.get(f"/services/{uuid}")).json()["status"])
            coolify_clock.advance(2)
        assert seen == ["starting:unhealthy", "starting:unhealthy", "exited"]
        assert coolify_fake.service(uuid).activities[-1].log == "pull access denied"
        await coolify_client.post(f"/services/{uuid}/start")  # the failure was for one start only
        coolify_clock.advance(3)
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "running:healthy"

    async def test_a_failure_armed_for_any_service_hits_the_next_start(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, coolify_clock: FakeClock
    ) -> None:
        """Without a uuid the failure waits for the next start of whichever service, created later."""
        coolify_fake.fail_compose_up(message="port is already allocated")
        uuid = await created(coolify_client, coolify_fake, compose({"P": "x"}))
        await coolify_client.post(f"/services/{uuid}/start")
        coolify_clock.advance(1)
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "exited"
        assert coolify_fake.service(uuid).activities[-1].log == "port is already allocated"

    async def test_an_injected_parser_failure_hits_the_next_parse(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """`fail_parse` makes the next create answer 500 after saving, like a compose the parser rejects."""
        coolify_fake.fail_parse()
        response = await create(coolify_client, coolify_fake, compose({"P": "x"}))
        assert response.status_code == 500 and len(coolify_fake.services_named("tenant-acme-stack")) == 1
        assert (await create(coolify_client, coolify_fake, compose({"P": "x"}))).status_code == 201


@pytest.mark.parametrize(
    ("value", "name"),
    [("${A}", "A"), ("${A:?}", "A:?"), ("{B}", "B"), ("$C", "C"), ("$$5 x", "$5 x"), ("plain", "plain")],
)
def test_replace_variables(value: str, name: str) -> None:
    """The parser's name extraction, as in services.php."""
    assert replace_variables(value) == name


def test_split_operator_respects_nesting() -> None:
    """Operators inside nested braces are not where a reference splits."""
    assert split_operator("A:-${B:-c}") == ("A", ":-", "${B:-c}")
    assert split_operator("A") is None


@pytest.mark.parametrize(
    ("value", "literal", "written"),
    [
        ("plain", True, "'plain'"),
        ("it's", True, "'it's'"),
        ('{"a": "$x"}', True, '{"a": "$x"}'),
        ("a\"b'c\\d", False, "a\\\"b\\'c\\\\d"),
        (None, True, "''"),
    ],
)
def test_real_value_quoting(value: str | None, literal: bool, written: str) -> None:
    """How a stored value is written into `.env` (EnvironmentVariable::realValue)."""
    assert real_value(EnvVar(1, "u", "K", value, is_literal=literal), {}) == written
