"""The fake's service environment-variable endpoints."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.coolify import FakeCoolify
from tests.fakes.fixtures import service_body

pytestmark = pytest.mark.anyio


async def _service(client: httpx.AsyncClient, fake: FakeCoolify) -> str:
    project = (await client.post("/projects", json={"name": "tenant-acme"})).json()["uuid"]
    response = await client.post("/services", json=service_body(project, fake.servers[0].uuid))
    uuid: str = response.json()["uuid"]
    return uuid


class TestParserVariables:
    async def test_compose_references_become_variables(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """``${VAR:-x}`` defaults, generated passwords and the URL/FQDN pairs exist after create."""
        uuid = await _service(coolify_client, coolify_fake)
        values = coolify_fake.env_values(uuid)
        assert values["GREETING"] == "hello"
        assert len(values["SERVICE_PASSWORD_API"] or "") == 32
        assert values["SERVICE_URL_WEB_80"] == f"http://web-{uuid}.127.0.0.1.sslip.io:80"
        assert values["SERVICE_FQDN_WEB"] == f"web-{uuid}.127.0.0.1.sslip.io"

    async def test_generated_values_survive_a_restart(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Generated secrets are created once; a restart re-parses without changing them."""
        uuid = await _service(coolify_client, coolify_fake)
        before = coolify_fake.env_values(uuid)["SERVICE_PASSWORD_API"]
        await coolify_client.post(f"/services/{uuid}/restart")
        assert coolify_fake.env_values(uuid)["SERVICE_PASSWORD_API"] == before

    async def test_url_keys_follow_the_domain_on_start(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """After a URL change, the next start refreshes SERVICE_URL_* declared as keys."""
        uuid = await _service(coolify_client, coolify_fake)
        urls = [{"name": "web", "url": "https://acme.example.com:80"}]
        await coolify_client.patch(f"/services/{uuid}", json={"urls": urls})
        await coolify_client.post(f"/services/{uuid}/start")
        assert coolify_fake.env_values(uuid)["SERVICE_URL_WEB"] == "https://acme.example.com"


class TestCrud:
    async def test_values_are_hidden_without_sensitive(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A read token sees keys but no values; the fake's state has the values."""
        uuid = await _service(coolify_client, coolify_fake)
        created = await coolify_client.post(
            f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "s3cret"}
        )
        listed = (await coolify_client.get(f"/services/{uuid}/envs")).json()
        assert created.status_code == 201
        assert "value" not in created.json()
        assert all("value" not in e for e in listed)
        assert coolify_fake.env_values(uuid)["TOKEN"] == "s3cret"

    async def test_sensitive_token_sees_values_except_shown_once(self, coolify_clock: FakeClock) -> None:
        """``read:sensitive`` reveals values, but never those marked ``is_shown_once``."""
        fake = FakeCoolify(abilities={"read", "write", "read:sensitive"}, clock=coolify_clock)
        async with fake.client() as client:
            uuid = await _service(client, fake)
            await client.post(f"/services/{uuid}/envs", json={"key": "A", "value": "1"})
            await client.post(
                f"/services/{uuid}/envs", json={"key": "B", "value": "2", "is_shown_once": True}
            )
            listed = {e["key"]: e for e in (await client.get(f"/services/{uuid}/envs")).json()}
        assert listed["A"]["value"] == "1"
        assert "value" not in listed["B"]

    async def test_duplicate_key_is_409(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Creating an existing key answers 409 and points to PATCH."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.post(f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "a"})
        response = await coolify_client.post(f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "b"})
        assert response.status_code == 409
        assert response.json() == {
            "message": "Environment variable already exists. Use PATCH request to update it."
        }

    @pytest.mark.parametrize("key", ["1ABC", "A-B", "A$B"])
    async def test_bad_key_is_422(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify, key: str
    ) -> None:
        """Keys must match ``^[A-Za-z_][A-Za-z0-9_.]*$``."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.post(f"/services/{uuid}/envs", json={"key": key, "value": "x"})
        assert response.status_code == 422
        assert "key" in response.json()["errors"]

    async def test_key_is_trimmed_and_spaces_become_underscores(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """`` MY KEY `` is stored as ``MY_KEY``."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.post(f"/services/{uuid}/envs", json={"key": " MY KEY ", "value": "x"})
        assert coolify_fake.env_values(uuid)["MY_KEY"] == "x"

    async def test_patch_by_key_answers_201(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """PATCH .../envs finds the variable by key in the body and answers 201."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.post(f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "a"})
        response = await coolify_client.patch(f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "b"})
        missing = await coolify_client.patch(f"/services/{uuid}/envs", json={"key": "NOPE", "value": "b"})
        assert response.status_code == 201
        assert coolify_fake.env_values(uuid)["TOKEN"] == "b"
        assert missing.json() == {"message": "Environment variable not found."}

    async def test_delete_by_env_uuid(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """DELETE .../envs/{env_uuid} removes the variable."""
        uuid = await _service(coolify_client, coolify_fake)
        env = (
            await coolify_client.post(f"/services/{uuid}/envs", json={"key": "TOKEN", "value": "a"})
        ).json()
        response = await coolify_client.delete(f"/services/{uuid}/envs/{env['uuid']}")
        assert response.json() == {"message": "Environment variable deleted."}
        assert "TOKEN" not in coolify_fake.env_values(uuid)


class TestBulk:
    async def test_bulk_upserts_by_key(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """Bulk creates new keys, updates existing ones and answers 201 with the list."""
        uuid = await _service(coolify_client, coolify_fake)
        await coolify_client.post(f"/services/{uuid}/envs", json={"key": "A", "value": "old"})
        data = [{"key": "A", "value": "new"}, {"key": "B", "value": "2", "comment": "second"}]
        response = await coolify_client.patch(f"/services/{uuid}/envs/bulk", json={"data": data})
        assert response.status_code == 201
        assert [e["key"] for e in response.json()] == ["A", "B"]
        values = coolify_fake.env_values(uuid)
        assert (values["A"], values["B"]) == ("new", "2")
        assert coolify_fake.service(uuid).env("B").comment == "second"  # type: ignore[union-attr]

    async def test_bulk_is_not_atomic(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A bad item is refused with 422 after the items before it were saved."""
        uuid = await _service(coolify_client, coolify_fake)
        data = [{"key": "GOOD", "value": "1"}, {"key": "9BAD", "value": "2"}, {"key": "LATER", "value": "3"}]
        response = await coolify_client.patch(f"/services/{uuid}/envs/bulk", json={"data": data})
        assert response.status_code == 422
        values = coolify_fake.env_values(uuid)
        assert values["GOOD"] == "1"
        assert "LATER" not in values

    async def test_bulk_without_data_is_400(
        self, coolify_client: httpx.AsyncClient, coolify_fake: FakeCoolify
    ) -> None:
        """A body without ``data`` answers 400 Bulk data is required."""
        uuid = await _service(coolify_client, coolify_fake)
        response = await coolify_client.patch(f"/services/{uuid}/envs/bulk", json={"items": []})
        assert (response.status_code, response.json()) == (400, {"message": "Bulk data is required."})
        assert len(coolify_fake.spec_violations) == 2  # `data` missing and `items` not in the spec
        coolify_fake.spec_violations.clear()

    async def test_envs_of_unknown_service_are_404(self, coolify_client: httpx.AsyncClient) -> None:
        """Env calls on an unknown service answer 404 Service not found."""
        response = await coolify_client.patch(
            "/services/nope/envs/bulk", json={"data": [{"key": "A", "value": "1"}]}
        )
        assert response.json() == {"message": "Service not found."}
