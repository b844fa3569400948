"""A stack's Docker volumes as one tar stream, and back: only the Docker API, no host filesystem.

Reading: a helper container is *created* (never started) with every volume mounted read-only at
``/v/<name>``, and the engine's archive endpoint (``GET /containers/{id}/archive?path=/v``) streams
them as one tar, owners, modes, symlinks and times included. Writing: the tar is extracted
(``PUT …/archive``) into a fresh *staging* volume; only when that succeeded does a helper container
(no network) empty each target volume and copy the staged files in, so a broken download never
touches a stack's data. Everything made here is removed again, on failure too.

Why this and not restic on the volumes' mountpoints: ``cfa serve`` runs in the ``functions``
container as uid 10010 with every capability dropped, so it cannot read ``/var/lib/docker/volumes``;
the Docker API is all it has (docs/backups.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared.errors import CfaError, ConfigurationError, ConflictError, NotFoundError, UnavailableError
from shared.logging import get_logger

log = get_logger()

MOUNT_ROOT = "/v"
LABELS = {"cf.managed": "false", "cf.purpose": "backup"}
_CHUNK = 1 << 20
# Checks every staged volume first, then replaces each target's contents with the staged copy.
_REPLACE = (
    'set -e; for n in "$@"; do [ -d "/from/$n" ] || { echo "the snapshot has no volume $n" >&2; exit 3; }; '
    'done; for n in "$@"; do find "/to/$n" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; '
    'cp -a "/from/$n/." "/to/$n/"; done'
)


def docker_volume_name(service_uuid: str, name: str) -> str:
    """The volume Coolify makes for a stack's named volume (as ``operations.delete.volume_names``)."""
    return f"{service_uuid}_{name.replace('_', '-')}"


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Docker API and transport failures as CfaErrors that say what was being done."""
    import docker.errors
    import requests

    try:
        yield
    except CfaError:
        raise
    except docker.errors.ImageNotFound as err:
        raise ConfigurationError(
            f"{what}: the helper image is not on the Docker host ({err.explanation})",
            advice="pull it there (docker pull <image>) or set CFA_BACKUP_HELPER_IMAGE to one that is",
        ) from err
    except docker.errors.NotFound as err:
        raise NotFoundError(f"{what}: {err.explanation}", advice="see cfa volumes list") from err
    except (docker.errors.DockerException, requests.RequestException, OSError) as err:
        raise UnavailableError(
            f"{what}: the Docker engine failed ({type(err).__name__}: {str(err)[:300]})",
            advice="check the Docker host (disk space, the engine's log), then re-run; it is safe",
        ) from err


def check_exist(client: Any, names: Iterable[str]) -> None:
    """NotFoundError for the first missing volume (``docker run -v`` would silently create it)."""
    for name in names:
        try:
            with docker_errors(f"inspecting volume {name}"):
                client.inspect_volume(name)
        except NotFoundError as err:
            raise NotFoundError(
                f"volume {name} does not exist on the Docker host",
                advice="the stack's service has not created it yet: start the stack once (cfa resume)",
            ) from err


def running_users(client: Any, names: Iterable[str]) -> list[str]:
    """Names of running containers that mount any of the volumes."""
    users: set[str] = set()
    for name in names:
        with docker_errors(f"listing the containers of volume {name}"):
            found = client.containers(filters={"volume": name, "status": "running"})
        users.update(str((c.get("Names") or ["?"])[0]).lstrip("/") for c in found)
    return sorted(users)


def _holder(client: Any, image: str, binds: dict[str, dict[str, str]], purpose: str) -> str:
    """A created (never started) container that only holds the volumes for the archive endpoint."""
    with docker_errors(f"creating the {purpose} container"):
        container = client.create_container(
            image,
            command=["true"],
            network_disabled=True,
            labels={**LABELS, "cf.backup.step": purpose},
            host_config=client.create_host_config(binds=binds),
        )
    return str(container["Id"])


def _remove_container(client: Any, container: str) -> None:
    try:
        client.remove_container(container, force=True)
    except Exception as err:  # a leftover helper is harmless; keep the original error
        log.warning("backup.helper_not_removed", container=container[:12], error=type(err).__name__)


def read_volumes(client: Any, volumes: dict[str, str], image: str, write: Callable[[bytes], None]) -> None:
    """Write one tar of ``volumes`` (name in the stack → Docker volume) to ``write``: entries are
    ``v/<name>/…``. Blocking; run it in a thread."""
    binds = {docker: {"bind": f"{MOUNT_ROOT}/{name}", "mode": "ro"} for name, docker in volumes.items()}
    container = _holder(client, image, binds, "backup-read")
    try:
        with docker_errors("reading the volumes"), contextlib.closing(_archive(client, container)) as answer:
            for chunk in answer.iter_content(_CHUNK, decode_unicode=False):
                write(chunk)
    finally:
        _remove_container(client, container)


def _archive(client: Any, container: str) -> Any:
    """``GET /containers/{id}/archive`` of MOUNT_ROOT as a streamed response the caller closes.

    Not docker-py's ``get_archive``: its generator keeps an unfinished response open, and then the
    engine does not remove the container (the removal waits out the client's timeout) and the
    connection is left to the garbage collector."""
    import docker.errors
    import requests

    answer = client.get(
        f"{client.base_url}/v{client.api_version}/containers/{container}/archive",
        params={"path": MOUNT_ROOT},
        stream=True,
        timeout=client.timeout,
    )
    try:
        answer.raise_for_status()
    except requests.HTTPError as err:
        try:
            docker.errors.create_api_error_from_http_exception(err)  # raises NotFound, APIError, …
        finally:
            answer.close()
    return answer


def create_staging(client: Any, name: str) -> None:
    with docker_errors(f"creating the staging volume {name}"):
        client.create_volume(name, labels={**LABELS, "cf.backup.step": "restore-staging"})


def remove_volume(client: Any, name: str) -> None:
    try:
        client.remove_volume(name, force=True)
    except Exception as err:
        log.warning("backup.staging_not_removed", volume=name, error=type(err).__name__)


def fill_staging(client: Any, staging: str, image: str, chunks: Iterator[bytes]) -> None:
    """Extract the tar ``chunks`` (entries ``v/<name>/…``) into the staging volume. Blocking."""
    container = _holder(client, image, {staging: {"bind": MOUNT_ROOT, "mode": "rw"}}, "restore-stage")
    try:
        with docker_errors("unpacking the snapshot into the staging volume"):
            client.put_archive(container, "/", chunks)
    finally:
        _remove_container(client, container)


def replace_from_staging(client: Any, staging: str, targets: dict[str, str], image: str) -> None:
    """Replace each target volume's contents with the staged copy of the same name. Blocking.

    Refuses (ConflictError, nothing changed) while a running container mounts a target. A failure
    after the copy began carries ``details["targets_changed"] = True``.
    """
    users = running_users(client, targets.values())
    if users:
        raise ConflictError(
            f"the stack's volumes are in use by running container(s) {', '.join(users)}",
            advice="stop whatever runs them (the stack is stopped through Coolify), then re-run",
        )
    binds = {staging: {"bind": "/from", "mode": "ro"}}
    binds.update({docker: {"bind": f"/to/{name}", "mode": "rw"} for name, docker in targets.items()})
    with docker_errors("creating the restore container"):
        container = client.create_container(
            image,
            command=["sh", "-c", _REPLACE, "sh", *targets],
            network_disabled=True,
            labels={**LABELS, "cf.backup.step": "restore-copy"},
            host_config=client.create_host_config(binds=binds),
        )
    try:
        with docker_errors("replacing the volumes' contents"):
            client.start(container)
            code = int(client.wait(container, timeout=3600).get("StatusCode", 1))
            if code != 0:
                output = client.logs(container, tail=5).decode(errors="replace").strip()
                raise UnavailableError(
                    f"replacing the volumes' contents failed (exit {code}): {output[:300]}",
                    advice="check the host's free space; re-run the restore (it starts from the snapshot)",
                    details={"targets_changed": code != 3},
                )
    except UnavailableError as err:
        err.details.setdefault("targets_changed", True)
        raise
    finally:
        _remove_container(client, container)
