"""The fake's ``/services`` endpoints: create rules, reads, update, async delete, start/stop/restart."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.compose import encode_compose
from tests.fakes.coolify import FakeCoolify
from tests.fakes.coolify_state import Destination, Server
from tests.fakes.fixtures import WEB_COMPOSE, service_body

pytestmark = pytest.mark.anyio


async def _body(client: httpx.AsyncClient, fake: FakeCoolify, **overrides: Any) -> dict[str, Any]:
    project = (await client.post("/projects", json={"name": "tenant-acme"})).json()["uuid"]
    return service_body(project, fake.servers[0].uuid, **overrides)


async def _service(client: httpx.AsyncClient, fake: FakeCoolify, **overrides: Any) -> str:
    response = await client.post("/services", json=await _body(client, fake, **overrides))
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


class TestCreate:
    async def test_created_service_is_exited_with_apps_and_databases(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A new service is ``exited``; compose services split into applications and databases."""
        uuid = await _service(coolify_client, coolify_fake)
        service = (await coolify_client.get(f"/services/{uuid}")).json()
        assert service["status"] == "exited"
        assert [a["name"] for a in service["applications"]] == ["web"]
        assert [d["name"] for d in service["databases"]] == ["db"]
        assert "docker_compose_raw" not in service

    async def test_urls_set_fqdn_and_domains(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``urls`` set the application's fqdn and come back as ``domains``."""
        body = await _body(
            coolify_client, coolify_fake, urls=[{"name": "web", "url": "https://acme.example.com:80"}]
        )
        response = await coolify_client.post("/services", json=body)
        assert response.json()["domains"] == ["https://acme.example.com:80"]
        fqdn = coolify_fake.service(response.json()["uuid"]).applications[0].fqdn
        assert fqdn == "https://acme.example.com:80"

    async def test_without_urls_a_generated_domain_is_used(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A ``SERVICE_URL_WEB_80`` declaration gives the app an sslip URL with that port."""
        response = await coolify_client.post("/services", json=await _body(coolify_client, coolify_fake))
        uuid = response.json()["uuid"]
        assert response.json()["domains"] == [f"http://web-{uuid}.127.0.0.1.sslip.io:80"]

    async def test_names_are_not_unique(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """The same body twice creates two services with the same name."""
        body = await _body(coolify_client, coolify_fake)
        first = await coolify_client.post("/services", json=body)
        second = await coolify_client.post("/services", json=body)
        assert first.json()["uuid"] != second.json()["uuid"]
        assert len(coolify_fake.services_named("tenant-acme-stack")) == 2

    async def test_compose_is_kept_as_given_and_decoded(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """The stored compose keeps the base64 as sent and the parsed YAML."""
        uuid = await _service(coolify_client, coolify_fake)
        compose = coolify_fake.service(uuid).compose
        assert compose is not None
        assert compose.raw_base64 == encode_compose(WEB_COMPOSE)
        assert list(compose.services) == ["web", "db"]

    async def test_sensitive_token_sees_the_compose(self, coolify_clock: FakeClock) -> None:
        """With ``read:sensitive`` the service shows ``docker_compose_raw`` (as re-dumped YAML)."""
        fake = FakeCoolify(abilities={"read", "write", "read:sensitive"}, clock=coolify_clock)
        async with fake.client() as client:
            uuid = await _service(client, fake)
            service = (await client.get(f"/services/{uuid}")).json()
        assert service["docker_compose_raw"].startswith("services:")

    @pytest.mark.parametrize(
        "compose",
        [
            "services: {}",  # plain YAML, not base64
            base64.urlsafe_b64encode(b'services: {w: {image: "~~~???>>>"}}').decode(),  # URL-safe
            base64.encodebytes(WEB_COMPOSE.encode()).decode(),  # wrapped at 76 characters
            base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        ],
    )
    async def test_compose_must_be_strict_base64(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, compose: str
    ) -> None:
        """Anything but standard, unwrapped base64 of UTF-8 gets the string-valued 422 error."""
        response = await coolify_client.post(
            "/services", json=await _body(coolify_client, coolify_fake, docker_compose_raw=compose)
        )
        assert response.status_code == 422
        assert response.json()["errors"] == {
            "docker_compose_raw": "The docker_compose_raw should be base64 encoded."
        }

    async def test_compose_needs_services(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Decoded YAML without a ``services:`` map is refused."""
        body = await _body(coolify_client, coolify_fake, docker_compose_raw=encode_compose("version: '3'\n"))
        response = await coolify_client.post("/services", json=body)
        assert response.status_code == 422
        assert "services" in response.json()["errors"]["docker_compose_raw"]

    async def test_unknown_and_create_only_refused_fields(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``connect_to_docker_network`` and unknown keys are 422 "This field is not allowed." on create."""
        body = await _body(coolify_client, coolify_fake, connect_to_docker_network=True, domains="x")
        response = await coolify_client.post("/services", json=body)
        assert response.status_code == 422
        assert response.json()["errors"] == {
            "connect_to_docker_network": ["This field is not allowed."],
            "domains": ["This field is not allowed."],
        }
        assert len(coolify_fake.spec_violations) == 1  # both keys are outside the spec's schema
        coolify_fake.spec_violations.clear()

    async def test_environment_is_required(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Neither environment_name nor environment_uuid: a message-only 422."""
        body = await _body(coolify_client, coolify_fake)
        del body["environment_name"]
        response = await coolify_client.post("/services", json=body)
        assert response.json() == {
            "message": "You need to provide at least one of environment_name or environment_uuid."
        }
        coolify_fake.spec_violations.clear()

    async def test_environment_uuid_alone_is_enough(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``environment_uuid`` without a name finds the environment (and is not a spec violation)."""
        body = await _body(coolify_client, coolify_fake)
        environment = next(iter(coolify_fake.state.projects.values())).environments[0]
        del body["environment_name"]
        body["environment_uuid"] = environment.uuid
        assert (await coolify_client.post("/services", json=body)).status_code == 201

    @pytest.mark.parametrize(
        ("override", "status", "text"),
        [
            ({"project_uuid": "nope"}, 404, "Project not found."),
            ({"environment_name": "staging"}, 404, "Environment not found."),
            ({"server_uuid": "nope"}, 404, "Server not found."),
        ],
    )
    async def test_missing_references(
        self,
        coolify_client: httpx.AsyncClient,
        coolify_fake: FakeCoolify,
        override: dict[str, str],
        status: int,
        text: str,
    ) -> None:
        """Unknown project, environment or server get their own 404 messages."""
        response = await coolify_client.post(
            "/services", json=await _body(coolify_client, coolify_fake, **override)
        )
        assert (response.status_code, response.json()) == (status, {"message": text})

    async def test_build_server_is_refused(self) -> None:
        """A build server cannot host resources: 422 on server_uuid."""
        server = Server(uuid="build", is_build_server=True, destinations=[Destination(uuid="d")])
        fake = FakeCoolify(servers=[server], clock=FakeClock())
        async with fake.client() as client:
            response = await client.post("/services", json=await _body(client, fake))
        assert response.status_code == 422
        assert response.json()["errors"]["server_uuid"] == [
            "The specified server is configured as a build server and cannot host resources."
        ]

    async def test_multiple_destinations_need_one_chosen(self) -> None:
        """With two destinations and no destination_uuid the create is 400; with one chosen it works."""
        server = Server(
            uuid="s", destinations=[Destination(uuid="d1"), Destination(uuid="d2", network="other")]
        )
        fake = FakeCoolify(servers=[server], clock=FakeClock())
        async with fake.client() as client:
            refused = await client.post("/services", json=await _body(client, fake))
            created = await client.post("/services", json=await _body(client, fake, destination_uuid="d2"))
        assert refused.json() == {
            "message": "Server has multiple destinations and you do not set destination_uuid."
        }
        assert fake.service(created.json()["uuid"]).destination.uuid == "d2"

    async def test_url_for_unknown_container_is_422(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A URL naming no compose application is refused and leaves no service behind."""
        body = await _body(
            coolify_client, coolify_fake, urls=[{"name": "db", "url": "https://db.example.com"}]
        )
        response = await coolify_client.post("/services", json=body)
        assert response.status_code == 422
        assert response.json()["message"] == "Service container with 'db' not found."
        assert coolify_fake.state.services == {}

    async def test_url_item_takes_only_name_and_url(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """An extra key inside a ``urls`` item is refused."""
        urls = [{"name": "web", "url": "https://a.example.com", "port": 80}]
        response = await coolify_client.post(
            "/services", json=await _body(coolify_client, coolify_fake, urls=urls)
        )
        assert response.json()["errors"] == {"urls.0.port": ["This field is not allowed."]}
        coolify_fake.spec_violations.clear()

    async def test_domain_conflict_is_409_unless_forced(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A host already used by another service gets 409 with ``conflicts``; forcing creates it."""
        urls = [{"name": "web", "url": "https://acme.example.com"}]
        first = await _service(coolify_client, coolify_fake, urls=urls)
        clash = await coolify_client.post(
            "/services", json=await _body(coolify_client, coolify_fake, urls=urls)
        )
        forced = await coolify_client.post(
            "/services", json=await _body(coolify_client, coolify_fake, urls=urls, force_domain_override=True)
        )
        assert clash.status_code == 409
        assert clash.json()["conflicts"][0]["resource_uuid"] == first
        assert clash.json()["conflicts"][0]["domain"] == "acme.example.com"
        assert forced.status_code == 201

    async def test_instant_deploy_starts_the_service(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``instant_deploy: true`` queues a start: starting now, running once settled."""
        uuid = await _service(coolify_client, coolify_fake, instant_deploy=True)
        assert coolify_fake.state.services[uuid].status == "starting:unhealthy"
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "running:healthy"

    async def test_named_volumes_are_prefixed_with_the_uuid(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """The stack's named volumes exist as ``<uuid>_<name>``."""
        uuid = await _service(coolify_client, coolify_fake)
        assert coolify_fake.state.volumes == {f"{uuid}_web-data", f"{uuid}_db-data"}


class TestRead:
    async def test_list_includes_status(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``GET /services`` lists every service with its status."""
        uuid = await _service(coolify_client, coolify_fake)
        [listed] = (await coolify_client.get("/services")).json()
        assert (listed["uuid"], listed["status"]) == (uuid, "exited")

    async def test_unknown_service_is_404(self, coolify_client: httpx.AsyncClient) -> None:
        """An unknown uuid gets 404 Service not found."""
        response = await coolify_client.get("/services/nope")
        assert (response.status_code, response.json()) == (404, {"message": "Service not found."})


class TestUpdate:
    async def test_patch_renames_and_sets_urls(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A partial PATCH changes the name and the domains and answers 200 {uuid, domains}."""
        uuid = await _service(coolify_client, coolify_fake)
        urls = [{"name": "web", "url": "https://new.example.com"}]
        response = await coolify_client.patch(f"/services/{uuid}", json={"name": "renamed", "urls": urls})
        assert response.json() == {"uuid": uuid, "domains": ["https://new.example.com"]}
        assert coolify_fake.service(uuid).name == "renamed"

    async def test_patch_refuses_domains_field(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``domains`` is not a PATCH field (only ``urls`` is)."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.patch(f"/services/{uuid}", json={"domains": "https://x.example.com"})
        assert response.json()["errors"] == {"domains": ["This field is not allowed."]}
        coolify_fake.spec_violations.clear()

    async def test_patch_is_not_atomic(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A rename saved before a urls conflict stays saved although the answer is 409."""
        await _service(
            coolify_client, coolify_fake, urls=[{"name": "web", "url": "https://taken.example.com"}]
        )
        uuid = await _service(coolify_client, coolify_fake)
        urls = [{"name": "web", "url": "https://taken.example.com"}]
        response = await coolify_client.patch(f"/services/{uuid}", json={"name": "renamed", "urls": urls})
        assert response.status_code == 409
        assert coolify_fake.service(uuid).name == "renamed"

    async def test_patch_connect_to_docker_network(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``connect_to_docker_network`` is set through PATCH."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.patch(f"/services/{uuid}", json={"connect_to_docker_network": True})
        assert coolify_fake.service(uuid).connect_to_docker_network is True


class TestDelete:
    async def test_delete_is_queued_then_404(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """DELETE answers "queued"; the service stays visible once, then 404s."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.delete(f"/services/{uuid}")
        assert response.json() == {"message": "Service deletion request queued."}
        assert (await coolify_client.get(f"/services/{uuid}")).status_code == 200
        assert (await coolify_client.get(f"/services/{uuid}")).status_code == 404

    async def test_delete_waits_for_the_clock(self) -> None:
        """With ``delete_delay`` the service stays until the clock passes it."""
        clock = FakeClock()
        fake = FakeCoolify(clock=clock, delete_delay=5, delete_visible_requests=0)
        async with fake.client() as client:
            uuid = await _service(client, fake)
            await client.delete(f"/services/{uuid}")
            assert (await client.get(f"/services/{uuid}")).status_code == 200
            clock.advance(5)
            assert (await client.get(f"/services/{uuid}")).status_code == 404

    async def test_flags_default_true_and_volumes_go(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Without query flags every cleanup flag is true and the volumes are removed."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.delete(f"/services/{uuid}")
        coolify_fake.finish_deletions()
        [deletion] = coolify_fake.deletions
        assert (deletion.delete_volumes, deletion.delete_configurations, deletion.docker_cleanup) == (
            True,
            True,
            True,
        )
        assert deletion.delete_connected_networks is True
        assert coolify_fake.state.volumes == set()
        assert coolify_fake.state.removed_volumes == {f"{uuid}_web-data", f"{uuid}_db-data"}

    async def test_delete_volumes_false_keeps_volumes(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``delete_volumes=false`` is recorded and the volumes survive the deletion."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.delete(f"/services/{uuid}", params={"delete_volumes": False})
        coolify_fake.finish_deletions()
        [deletion] = coolify_fake.deletions
        assert deletion.delete_volumes is False
        assert sorted(deletion.volumes_kept) == sorted(coolify_fake.state.volumes)
        assert len(coolify_fake.state.volumes) == 2

    async def test_delete_unknown_is_404(self, coolify_client: httpx.AsyncClient) -> None:
        """Deleting an unknown uuid gets 404."""
        assert (await coolify_client.delete("/services/nope")).status_code == 404


class TestLifecycle:
    async def test_start_then_running_after_delay(self) -> None:
        """A start reports starting:unhealthy until ``transition_delay`` passes, then running:healthy."""
        clock = FakeClock()
        fake = FakeCoolify(clock=clock, transition_delay=10)
        async with fake.client() as client:
            uuid = await _service(client, fake)
            response = await client.post(f"/services/{uuid}/start")
            assert response.json() == {"message": "Service starting request queued."}
            assert (await client.get(f"/services/{uuid}")).json()["status"] == "starting:unhealthy"
            clock.advance(10)
            service = (await client.get(f"/services/{uuid}")).json()
        assert service["status"] == "running:healthy"
        assert service["applications"][0]["status"] == "running:healthy"

    async def test_start_when_running_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Any status containing ``running`` refuses a start, including running:unhealthy."""
        uuid = await _service(coolify_client, coolify_fake)
        coolify_fake.set_status(uuid, "running:unhealthy")
        response = await coolify_client.post(f"/services/{uuid}/start")
        assert (response.status_code, response.json()) == (400, {"message": "Service is already running."})

    async def test_stop_when_exited_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A new (exited) service refuses a stop."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.post(f"/services/{uuid}/stop")
        assert response.json() == {"message": "Service is already stopped."}

    async def test_stop_settles_on_exited(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A stop of a running service is queued and the status becomes ``exited``."""
        uuid = await _service(coolify_client, coolify_fake)
        coolify_fake.set_status(uuid, "running:healthy")
        response = await coolify_client.post(f"/services/{uuid}/stop")
        assert response.json() == {"message": "Service stopping request queued."}
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "exited"

    async def test_restart_always_queues(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Restart has no status check and goes through starting to running."""
        uuid = await _service(coolify_client, coolify_fake)
        coolify_fake.set_status(uuid, "degraded:unhealthy")
        response = await coolify_client.post(f"/services/{uuid}/restart")
        assert response.json() == {"message": "Service restarting request queued."}
        assert coolify_fake.state.services[uuid].status == "starting:unhealthy"
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "running:healthy"
        assert coolify_fake.service(uuid).restarts == 1

    async def test_start_outcome_can_be_a_failure(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``set_start_outcome`` makes a start settle on, e.g., degraded:unhealthy."""
        uuid = await _service(coolify_client, coolify_fake)
        coolify_fake.set_start_outcome(uuid, "degraded:unhealthy")
        await coolify_client.post(f"/services/{uuid}/start")
        assert (await coolify_client.get(f"/services/{uuid}")).json()["status"] == "degraded:unhealthy"

    async def test_get_on_start_is_405(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A GET on /start answers 405 with ``Allow: POST`` (and is not in the spec)."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.get(f"/services/{uuid}/start")
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert coolify_fake.spec_violations == [
            f"GET /api/v1/services/{uuid}/start: method not in the spec for this path"
        ]
        coolify_fake.spec_violations.clear()

    async def test_lifecycle_needs_deploy(self, coolify_clock: FakeClock) -> None:
        """A read/write token without deploy gets 403 on start."""
        fake = FakeCoolify(abilities={"read", "write"}, clock=coolify_clock)
        async with fake.client() as client:
            uuid = await _service(client, fake)
            response = await client.post(f"/services/{uuid}/start")
        assert response.json() == {"message": "Missing required permissions: deploy"}
