"""The tenants' Docker volumes on the Coolify host: which stack each belongs to, which were kept by a
delete (orphaned: no running stack uses them), and copying a kept volume into a re-provisioned stack.

Coolify names a stack's named volume ``<service uuid>_<name>`` (and Compose labels it with the project,
which is the service uuid), so a re-provisioned stack gets fresh, empty volumes. A delete that keeps the
volumes records their names on the stack (``kept_volumes``); this module finds them again. A copy runs
a throwaway container with both volumes mounted and no network, and refuses while a running container
uses the target.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from functions.context import Context
from shared.docker_host import docker_client, volume_sizes
from shared.errors import ConflictError, InvalidInput, NotFoundError, StackFailedError
from shared.logging import get_logger

log = get_logger()

COPY_IMAGE = "busybox:1.36.1"  # any image with sh and cp; a Coolify host can pull it


class VolumeInfo(BaseModel):
    name: str
    tenant: str
    stack: str
    state: str  # "in use" (its stack's current service) or "kept" (its stack was deleted or re-created)
    size_bytes: int | None = None


async def list_volumes(ctx: Context, *, orphaned: bool = False) -> list[VolumeInfo]:
    """Every Docker volume that belongs to a stack we know, with its size; ``orphaned``: only kept
    volumes no current service mounts."""
    tenants = {t.id: t.slug for t in await ctx.store.list_tenants()}
    stacks = await ctx.store.list_all_stacks()
    current = {s.coolify_service_uuid: s for s in stacks if s.coolify_service_uuid}
    kept = {name: s for s in stacks for name in s.kept_volumes or []}

    def read() -> tuple[list[dict[str, Any]], dict[str, int | None]]:
        client = docker_client(ctx.settings.docker_url)
        try:
            return (client.volumes() or {}).get("Volumes") or [], volume_sizes(client.df())
        finally:
            client.close()

    volumes, sizes = await asyncio.to_thread(read)
    found = []
    for volume in volumes:
        name = str(volume.get("Name"))
        project = str((volume.get("Labels") or {}).get("com.docker.compose.project") or name.split("_", 1)[0])
        owner, state = current.get(project), "in use"
        if owner is None and name in kept:  # its service is gone; the stack may have a new one
            owner, state = kept[name], "kept"
        if owner is None or (orphaned and state != "kept"):
            continue
        found.append(
            VolumeInfo(
                name=name,
                tenant=tenants.get(owner.tenant, "?"),
                stack=owner.name,
                state=state,
                size_bytes=sizes.get(name),
            )
        )
    return sorted(found, key=lambda v: (v.tenant, v.stack, v.name))


class CopyResult(BaseModel):
    source: str
    target: str
    image: str


async def copy_volume(ctx: Context, source: str, target: str, *, image: str = COPY_IMAGE) -> CopyResult:
    """Copy every file of volume ``source`` into volume ``target`` (ownership and modes kept).

    Refuses while a running container mounts ``target`` (suspend its stack first), when either volume
    does not exist, and when they are the same. Audited as ``volumes.copied``.
    """
    if source == target:
        raise InvalidInput("target", "is the source volume", advice="copy into the new stack's volume")

    def run() -> None:
        client = docker_client(ctx.settings.docker_url)
        try:
            _copy(client, source, target, image)
        finally:
            client.close()

    await asyncio.to_thread(run)
    await ctx.store.audit("volumes.copied", details={"source": source, "target": target, "image": image})
    await ctx.store.flush()
    log.info("volumes.copied", source=source, target=target)
    return CopyResult(source=source, target=target, image=image)


def _copy(client: Any, source: str, target: str, image: str) -> None:
    import docker.errors

    for name in (source, target):
        try:
            client.inspect_volume(name)
        except docker.errors.NotFound as err:
            raise NotFoundError(f"volume {name} does not exist", advice="see cfa volumes list") from err
    users = client.containers(filters={"volume": target, "status": "running"})
    if users:
        names = ", ".join(str((c.get("Names") or ["?"])[0]).lstrip("/") for c in users)
        raise ConflictError(
            f"volume {target} is in use by running container(s) {names}",
            advice="suspend the stack first (cfa suspend TENANT/STACK), copy, then resume it",
        )
    container = client.create_container(
        image,
        command=["sh", "-c", "cp -a /from/. /to/"],
        network_disabled=True,
        labels={"cf.managed": "false", "cf.purpose": "volume-copy"},
        host_config=client.create_host_config(
            binds={source: {"bind": "/from", "mode": "ro"}, target: {"bind": "/to", "mode": "rw"}}
        ),
    )
    try:
        client.start(container)
        exit_code = int(client.wait(container, timeout=3600).get("StatusCode", 1))
        if exit_code != 0:
            logs = client.logs(container, tail=5).decode(errors="replace").strip()
            raise StackFailedError(
                f"copying {source} into {target} failed (exit {exit_code}): {logs}",
                advice="check the host's free space and the volumes, then try again",
            )
    finally:
        client.remove_container(container, force=True)
