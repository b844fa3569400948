"""Kept volumes on a real Docker engine: found again after a delete, and copied into the stack that
re-provisioning created, byte for byte — the procedure of runbooks/kept-volumes.md."""

from __future__ import annotations

import pytest

from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.volumes import copy_volume, list_volumes
from shared.errors import ConflictError, NotFoundError
from shared.pocketbase.client import PocketBase
from tests.docker_fixture import DockerEngine
from tests.fakes.coolify import FakeCoolify
from tests.functions.conftest import ROUTER_KEY, ContextFactory, records

pytestmark = pytest.mark.anyio


def compose_volume(engine: DockerEngine, service_uuid: str, name: str) -> str:
    """The volume `docker compose -p <service uuid>` makes for the stack's named volume."""
    return engine.volume(
        f"{service_uuid}_{name}",
        labels={"com.docker.compose.project": service_uuid, "com.docker.compose.volume": name},
    )


async def test_kept_data_is_found_and_copied_into_the_new_stack(
    make_ctx: ContextFactory,
    acme: str,
    coolify_fake: FakeCoolify,
    pb: PocketBase,
    docker_engine: DockerEngine,
) -> None:
    """Delete keeps openclaw-home; the re-provisioned stack gets a new, empty volume; `volumes list
    --orphaned` names the old one; copying it brings back the same bytes."""
    request = ProvisionRequest(
        tenant="acme", template="openclaw-agent", stack="agent", params={"router_api_key": ROUTER_KEY}
    )
    ctx = make_ctx(docker_url=docker_engine.url)
    first = await provision(ctx, request)
    old = compose_volume(docker_engine, first.service_uuid, "openclaw-home")
    code, _ = docker_engine.sh(
        "mkdir -p /v/.openclaw && head -c 65536 /dev/urandom > /v/.openclaw/state.bin"
        " && echo hi > /v/note && chown -R 1000:1000 /v",
        {old: {"bind": "/v", "mode": "rw"}},
    )
    assert code == 0
    _, before = docker_engine.sh(
        "md5sum /v/.openclaw/state.bin /v/note; stat -c %u /v/note", {old: {"bind": "/v", "mode": "ro"}}
    )

    result = await delete(make_ctx(docker_url=docker_engine.url), "acme", "agent")
    assert result.kept_volumes == [old]
    kept = next(e for e in await records(pb, "audit_events") if e["action"] == "delete.completed")
    assert kept["details"]["kept_volumes"] == [old]

    second = await provision(make_ctx(docker_url=docker_engine.url), request)
    new = compose_volume(docker_engine, second.service_uuid, "openclaw-home")
    listed = {v.name: v for v in await list_volumes(make_ctx(docker_url=docker_engine.url))}
    assert (listed[old].state, listed[old].stack, listed[old].tenant) == ("kept", "agent", "acme")
    assert listed[new].state == "in use"
    orphaned = await list_volumes(make_ctx(docker_url=docker_engine.url), orphaned=True)
    assert [v.name for v in orphaned] == [old]
    assert (orphaned[0].size_bytes or 0) >= 65536  # the engine measured it

    _, container = docker_engine.sh("sleep 300", {new: {"bind": "/data", "mode": "rw"}}, detach=True)
    with pytest.raises(ConflictError, match="in use by running container"):
        await copy_volume(make_ctx(docker_url=docker_engine.url), old, new, image=docker_engine.image)
    docker_engine.api.remove_container(container, force=True)

    await copy_volume(make_ctx(docker_url=docker_engine.url), old, new, image=docker_engine.image)
    _, after = docker_engine.sh(
        "md5sum /v/.openclaw/state.bin /v/note; stat -c %u /v/note", {new: {"bind": "/v", "mode": "ro"}}
    )
    assert after == before
    assert "volumes.copied" in {e["action"] for e in await records(pb, "audit_events")}


async def test_copy_refuses_unknown_volumes(make_ctx: ContextFactory, docker_engine: DockerEngine) -> None:
    """A typo in a volume name is a clear not-found, and nothing is created."""
    source = docker_engine.volume(f"cft-{docker_engine.run_id}-src")
    with pytest.raises(NotFoundError, match="does not exist"):
        await copy_volume(
            make_ctx(docker_url=docker_engine.url), source, "no-such-volume-xyz", image=docker_engine.image
        )
