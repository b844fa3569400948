"""The fake's servers, destinations, projects and environments endpoints."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.fakes.coolify_state import Destination, Server
from tests.fakes.fixtures import service_body

pytestmark = pytest.mark.anyio


async def _project(client: httpx.AsyncClient, name: str = "tenant-acme") -> str:
    response = await client.post("/projects", json={"name": name, "description": "acme"})
    assert response.status_code == 201
    uuid: str = response.json()["uuid"]
    return uuid


class TestServers:
    async def test_default_server_is_usable_localhost(self, coolify_client: httpx.AsyncClient) -> None:
        """By default the team has one usable, reachable ``localhost`` server."""
        [server] = (await coolify_client.get("/servers")).json()
        assert (server["name"], server["ip"]) == ("localhost", "host.docker.internal")
        assert server["is_usable"] and server["is_reachable"]
        assert "id" not in server

    async def test_get_server_and_destinations(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A server is found by uuid and lists its destinations."""
        server = coolify_fake.servers[0]
        assert (await coolify_client.get(f"/servers/{server.uuid}")).json()["uuid"] == server.uuid
        [destination] = (await coolify_client.get(f"/servers/{server.uuid}/destinations")).json()
        assert destination["network"] == "coolify"
        assert destination["server_uuid"] == server.uuid

    async def test_unknown_server_is_404(self, coolify_client: httpx.AsyncClient) -> None:
        """An unknown server uuid gets 404 Server not found."""
        response = await coolify_client.get("/servers/nope")
        assert (response.status_code, response.json()) == (404, {"message": "Server not found."})

    async def test_configured_servers_replace_the_default(self) -> None:
        """Servers passed to the constructor are the ones listed."""
        servers = [Server(uuid="s1", name="edge", destinations=[Destination(uuid="d1")])]
        fake = FakeCoolify(servers=servers, clock=FakeClock())
        async with fake.client() as client:
            assert [s["uuid"] for s in (await client.get("/servers")).json()] == ["s1"]


class TestProjects:
    async def test_create_returns_uuid_and_adds_production(self, coolify_client: httpx.AsyncClient) -> None:
        """A new project answers 201 {uuid} and comes with a ``production`` environment."""
        uuid = await _project(coolify_client)
        project = (await coolify_client.get(f"/projects/{uuid}")).json()
        assert [e["name"] for e in project["environments"]] == ["production"]
        assert project["name"] == "tenant-acme"

    async def test_names_are_not_unique(self, coolify_client: httpx.AsyncClient) -> None:
        """Two creates with the same name make two projects."""
        first, second = await _project(coolify_client), await _project(coolify_client)
        listed = (await coolify_client.get("/projects")).json()
        assert first != second
        assert [p["name"] for p in listed] == ["tenant-acme", "tenant-acme"]
        assert set(listed[0]) == {"id", "uuid", "name", "description"}

    async def test_unknown_field_is_422(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A key outside {name, description} is refused per field."""
        response = await coolify_client.post("/projects", json={"name": "acme", "tags": ["x"]})
        assert response.status_code == 422
        assert response.json() == {
            "message": "Validation failed.",
            "errors": {"tags": ["This field is not allowed."]},
        }
        assert len(coolify_fake.spec_violations) == 1
        coolify_fake.spec_violations.clear()

    @pytest.mark.parametrize(
        ("name", "error"),
        [
            ("ab", "The name must be at least 3 characters."),
            ("x" * 256, "The name may not be greater than 255 characters."),
            ("evil;rm", "The name may only contain letters"),
        ],
    )
    async def test_name_rules(self, coolify_client: httpx.AsyncClient, name: str, error: str) -> None:
        """Names must be 3 to 255 characters from NAME_PATTERN."""
        response = await coolify_client.post("/projects", json={"name": name})
        assert response.status_code == 422
        assert response.json()["errors"]["name"][0].startswith(error)

    async def test_unicode_names_pass_the_pattern(self, coolify_client: httpx.AsyncClient) -> None:
        """Letters, marks and digits of any script are allowed, with the listed punctuation."""
        response = await coolify_client.post("/projects", json={"name": "Café Zürich #1 (東京) a/b"})
        assert response.status_code == 201

    async def test_missing_project_is_404(self, coolify_client: httpx.AsyncClient) -> None:
        """An unknown project uuid gets 404 Project not found."""
        response = await coolify_client.get("/projects/nope")
        assert response.json() == {"message": "Project not found."}

    async def test_update_answers_201(self, coolify_client: httpx.AsyncClient) -> None:
        """PATCH /projects/{uuid} renames and answers 201, as the code does."""
        uuid = await _project(coolify_client)
        response = await coolify_client.patch(f"/projects/{uuid}", json={"name": "renamed"})
        assert response.status_code == 201
        assert response.json() == {"uuid": uuid, "name": "renamed", "description": "acme"}

    async def test_delete_empty_project(self, coolify_client: httpx.AsyncClient) -> None:
        """An empty project is deleted with 200 Project deleted."""
        uuid = await _project(coolify_client)
        response = await coolify_client.delete(f"/projects/{uuid}")
        assert response.json() == {"message": "Project deleted."}
        assert (await coolify_client.get(f"/projects/{uuid}")).status_code == 404

    async def test_delete_refused_while_a_service_is_being_deleted(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A project whose service deletion has not finished cannot be deleted yet; afterwards it can."""
        project = await _project(coolify_client)
        body = service_body(project, coolify_fake.servers[0].uuid)
        service = (await coolify_client.post("/services", json=body)).json()["uuid"]
        await coolify_client.delete(f"/services/{service}")
        refused = await coolify_client.delete(f"/projects/{project}")
        assert (refused.status_code, refused.json()) == (
            400,
            {"message": "Project has resources, so it cannot be deleted."},
        )
        assert (await coolify_client.get(f"/services/{service}")).status_code == 404
        assert (await coolify_client.delete(f"/projects/{project}")).status_code == 200


class TestEnvironments:
    async def test_environment_by_name_or_uuid_lists_services(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """The environment is found by name or uuid and lists the project's services there."""
        project = await _project(coolify_client)
        body = service_body(project, coolify_fake.servers[0].uuid)
        service = (await coolify_client.post("/services", json=body)).json()["uuid"]
        by_name = (await coolify_client.get(f"/projects/{project}/production")).json()
        by_uuid = (await coolify_client.get(f"/projects/{project}/{by_name['uuid']}")).json()
        assert [s["uuid"] for s in by_name["services"]] == [service]
        assert by_uuid["name"] == "production"

    async def test_unknown_environment_is_404(self, coolify_client: httpx.AsyncClient) -> None:
        """An unknown environment gets 404 Environment not found."""
        project = await _project(coolify_client)
        response = await coolify_client.get(f"/projects/{project}/staging")
        assert response.json() == {"message": "Environment not found."}

    async def test_create_environment_and_duplicate(self, coolify_client: httpx.AsyncClient) -> None:
        """A new environment gets 201; the same name again gets 409."""
        project = await _project(coolify_client)
        created = await coolify_client.post(f"/projects/{project}/environments", json={"name": "staging"})
        duplicate = await coolify_client.post(f"/projects/{project}/environments", json={"name": "staging"})
        listed = (await coolify_client.get(f"/projects/{project}/environments")).json()
        assert created.status_code == 201
        assert duplicate.json() == {"message": "Environment with this name already exists."}
        assert [e["name"] for e in listed] == ["production", "staging"]
