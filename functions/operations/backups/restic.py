"""restic (Debian's 0.14) as a subprocess: encrypted, deduplicated snapshots with retention built in.

The repository's password (and S3 keys) reach restic only through its environment — never its argv, a
log line or an error message (they are registered for redaction as well). Every snapshot is made with
``--host cfa`` and tags, so grouping and look-ups never depend on which machine or container ran it.
Output is parsed where restic 0.14 has JSON (``backup``, ``snapshots``, ``forget``); ``forget`` and
``prune`` run separately because ``forget --prune`` appends text to the JSON.

Streams: :meth:`Restic.backup` feeds ``--stdin`` from a blocking producer (a thread writing into a
pipe) and :meth:`Restic.dump` hands restic's output to a blocking consumer the same way. A producer that
fails stops restic before its input is closed, so a truncated stream never becomes a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import redaction
from shared.errors import (
    AuthError,
    BusyError,
    CfaError,
    ConfigurationError,
    NotFoundError,
    UnavailableError,
)
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger()

HOST = "cfa"  # --host of every snapshot: part of restic's grouping key, so it must never change
_REMOTE = re.compile(r"^(s3|sftp|rest|b2|azure|gs|swift|rclone):")
_CHUNK = 1 << 20
_STOP_GRACE_SECONDS = 10.0

Write = Callable[[bytes], None]


@dataclass(frozen=True)
class ResticSnapshot:
    id: str
    short_id: str
    time: datetime
    tags: tuple[str, ...]
    paths: tuple[str, ...]

    def tag(self, key: str) -> str:
        """The value of the ``key=value`` tag, or ""."""
        return next((t.split("=", 1)[1] for t in self.tags if t.startswith(f"{key}=")), "")

    def tag_values(self, key: str) -> list[str]:
        return [t.split("=", 1)[1] for t in self.tags if t.startswith(f"{key}=")]

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ResticSnapshot:
        return cls(
            id=str(item["id"]),
            short_id=str(item.get("short_id") or str(item["id"])[:8]),
            time=parse_time(str(item["time"])),
            tags=tuple(str(t) for t in item.get("tags") or []),
            paths=tuple(str(p) for p in item.get("paths") or []),
        )


@dataclass(frozen=True)
class BackupSummary:
    snapshot_id: str
    bytes_processed: int
    bytes_added: int
    seconds: float


@dataclass(frozen=True)
class ForgetReport:
    kept: list[str]
    removed: list[str]


def parse_time(value: str) -> datetime:
    """restic's RFC 3339 times carry nanoseconds; Python keeps microseconds."""
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    if not match:
        raise UnavailableError(f"restic reported a time that is not RFC 3339: {value!r}")
    base, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{base}.{micros}{'+00:00' if zone == 'Z' else zone}").astimezone(UTC)


class Restic:
    """The configured repository (``CFA_BACKUP_REPOSITORY``, ``CFA_BACKUP_PASSWORD``).

    ConfigurationError (exit 6) when backups are not configured or restic is not installed.
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.backup_repository:
            raise ConfigurationError(
                "backups are not configured: CFA_BACKUP_REPOSITORY is not set",
                advice="set CFA_BACKUP_REPOSITORY and CFA_BACKUP_PASSWORD (see docs/backups.md)",
            )
        if settings.backup_password is None or not settings.backup_password.get_secret_value():
            raise ConfigurationError(
                "CFA_BACKUP_REPOSITORY is set but CFA_BACKUP_PASSWORD is not",
                advice="set CFA_BACKUP_PASSWORD (keep it apart from the repository: without it the "
                "backups cannot be read)",
            )
        binary = shutil.which("restic")
        if binary is None:
            raise ConfigurationError(
                "restic is not installed on this machine", advice="install it: apt-get install restic"
            )
        self.binary = binary
        self.repository = settings.backup_repository
        self._password = settings.backup_password
        self._s3_key_id = settings.backup_s3_access_key_id
        self._s3_secret = settings.backup_s3_secret_access_key
        redaction.register(self._password, self._s3_secret)

    @property
    def remote(self) -> bool:
        return bool(_REMOTE.match(self.repository))

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME") or tempfile.gettempdir(),
            "TMPDIR": tempfile.gettempdir(),
            "RESTIC_REPOSITORY": self.repository,
            "RESTIC_PASSWORD": self._password.get_secret_value(),
        }
        if "TZ" in os.environ:  # --time is read in local time, as Python's astimezone() writes it
            env["TZ"] = os.environ["TZ"]
        if self._s3_key_id:
            env["AWS_ACCESS_KEY_ID"] = self._s3_key_id
        if self._s3_secret is not None and self._s3_secret.get_secret_value():
            env["AWS_SECRET_ACCESS_KEY"] = self._s3_secret.get_secret_value()
        return env

    def _global_flags(self) -> list[str]:
        if self.remote:
            return ["--cache-dir", str(Path(tempfile.gettempdir()) / "cfa-restic-cache")]
        return ["--no-cache"]  # a local repository gains nothing from a cache

    async def _spawn(self, args: Sequence[str], **kwargs: Any) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            self.binary, *self._global_flags(), *args, env=self._env(), **kwargs
        )

    async def _run(self, command: str, args: Sequence[str]) -> bytes:
        """Run ``restic <command> <args>``; its stdout, or the CfaError its failure means."""
        process = await self._spawn(
            [command, *args],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await process.communicate()
        except BaseException:
            if process.returncode is None:
                await _stop(process)
                await self._remove_stale_locks()
            raise
        if process.returncode != 0:
            raise self._failure(command, process.returncode, stderr)
        return stdout

    def _failure(self, command: str, code: int | None, stderr: bytes) -> CfaError:
        text = redaction.scrub(stderr.decode(errors="replace")).strip()
        last = text.splitlines()[0].removeprefix("Fatal: ") if text else "no message"
        log.warning("backup.restic_failed", command=command, exit_code=code, reason=last[:300])
        if "wrong password or no key found" in text:
            return AuthError(
                "the restic repository refused the password",
                advice="check CFA_BACKUP_PASSWORD against the repository's (see runbooks/backup-failed.md)",
            )
        if "Is there a repository at the following location?" in text:
            return NotFoundError(
                f"there is no restic repository at {self.repository}",
                advice="check CFA_BACKUP_REPOSITORY; the first `cfa backup run` creates it",
            )
        if "already locked" in text or "unable to create lock" in text:
            return BusyError(
                f"the restic repository is locked by another restic process ({last[:200]})",
                advice="wait for it (a prune?) and re-run; a lock left by a killed process is "
                "removed by `restic unlock` (runbooks/backup-failed.md)",
            )
        if "no matching ID found" in text or "no snapshot found" in text:
            return NotFoundError(f"restic: {last[:300]}", advice="see `cfa backup list TENANT/STACK`")
        return UnavailableError(
            f"restic {command} failed (exit {code}): {last[:500]}",
            advice="check the repository (runbooks/backup-failed.md), then re-run; it is safe",
        )

    # --- repository ----------------------------------------------------------------------------------

    async def exists(self) -> bool:
        if not self.remote:  # saves a restic run (and its key derivation) per backup
            return (Path(self.repository) / "config").is_file()
        try:
            await self._run("cat", ["config"])
        except NotFoundError:
            return False
        return True

    async def ensure(self) -> bool:
        """Create the repository when there is none; True when it was created now."""
        if await self.exists():
            return False
        await self._run("init", [])
        log.info("backup.repository_created", repository=self.repository)
        return True

    async def unlock(self) -> None:
        """Remove stale locks only (of processes that are gone): safe while others run."""
        await self._run("unlock", [])

    async def _remove_stale_locks(self) -> None:
        """After stopping a restic: 0.14 leaves its lock behind on SIGINT (observed), and that lock
        would block the next prune until someone ran ``restic unlock``. Best effort."""
        try:
            await self.unlock()
        except CfaError as err:
            log.warning("backup.unlock_failed", error=err.kind, reason=err.message)

    # --- snapshots -----------------------------------------------------------------------------------

    async def snapshots(self, tags: Sequence[str] = ()) -> list[ResticSnapshot]:
        """This platform's snapshots (``--host cfa``) carrying every one of ``tags``, oldest first."""
        args = ["--json", "--host", HOST]
        if tags:
            args += ["--tag", ",".join(tags)]
        items = json.loads(await self._run("snapshots", args) or b"[]") or []
        return sorted((ResticSnapshot.from_json(i) for i in items), key=lambda s: s.time)

    async def backup(
        self, feed: Callable[[Write], None], *, filename: str, tags: Sequence[str], when: datetime
    ) -> BackupSummary:
        """One snapshot of what ``feed`` writes (it runs in a thread, calling ``write`` with bytes).

        The snapshot holds one file, ``/<filename>``. If ``feed`` raises, restic is stopped before its
        input ends, so no snapshot of a truncated stream is saved; the error is re-raised.
        """
        read_end, write_end = os.pipe()
        try:
            process = await self._spawn(
                [
                    "backup",
                    "--json",
                    "--stdin",
                    "--stdin-filename",
                    filename,
                    "--host",
                    HOST,
                    *(arg for tag in tags for arg in ("--tag", tag)),
                    "--time",
                    when.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                ],
                stdin=read_end,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        output = asyncio.ensure_future(_read_all(process))
        pump = asyncio.get_running_loop().run_in_executor(None, feed, _writer(write_end))
        try:
            await asyncio.shield(pump)
        except BaseException as err:
            # restic first: closing its input now would look like the end of the stream
            ended_by_itself = await _ended_or_stopped(process, err)
            with contextlib.suppress(BaseException):
                await pump  # it ends once restic is gone (EPIPE)
            os.close(write_end)
            if not ended_by_itself:
                await self._remove_stale_locks()
            if ended_by_itself and process.returncode != 0:
                raise self._failure("backup", process.returncode, (await output)[1]) from err
            output.cancel()
            raise
        os.close(write_end)  # the end of the stream: restic saves the snapshot now
        stdout, stderr = await output
        if await process.wait() != 0:
            raise self._failure("backup", process.returncode, stderr)
        return _summary(stdout)

    async def dump(self, snapshot_id: str, filename: str, consume: Callable[[Iterator[bytes]], None]) -> None:
        """Stream ``/<filename>`` of the snapshot into ``consume`` (run in a thread with the chunks).

        restic's failure wins over the consumer's (a consumer of a stream cut short fails too).
        """
        read_end, write_end = os.pipe()
        try:
            process = await self._spawn(
                ["dump", snapshot_id, f"/{filename}"],
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end,
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        assert process.stderr is not None
        stderr = asyncio.ensure_future(process.stderr.read())
        chunks = iter(lambda: os.read(read_end, _CHUNK), b"")
        pull = asyncio.get_running_loop().run_in_executor(None, consume, chunks)
        try:
            await asyncio.shield(pull)
        except BaseException as err:
            ended_by_itself = await _ended_or_stopped(process, err)
            with contextlib.suppress(BaseException):
                await pull
            os.close(read_end)
            if not ended_by_itself:
                await self._remove_stale_locks()
            if ended_by_itself and process.returncode != 0:
                raise self._failure("dump", process.returncode, await stderr) from err
            stderr.cancel()
            raise
        os.close(read_end)
        if await process.wait() != 0:
            raise self._failure("dump", process.returncode, await stderr)

    # --- retention -----------------------------------------------------------------------------------

    async def forget(self, tags: Sequence[str], *, keep_daily: int, keep_weekly: int) -> ForgetReport:
        """Apply the policy to the snapshots carrying every one of ``tags``, as one group (a change of
        service uuid or of the template's volumes does not start a new group)."""
        args = [
            "--json",
            "--host",
            HOST,
            "--tag",
            ",".join(tags),
            "--group-by",
            "host",
            "--keep-daily",
            str(keep_daily),
            "--keep-weekly",
            str(keep_weekly),
        ]
        groups = json.loads(await self._run("forget", args) or b"[]") or []
        kept = [str(s["id"]) for g in groups for s in g.get("keep") or []]
        removed = [str(s["id"]) for g in groups for s in g.get("remove") or []]
        return ForgetReport(kept=kept, removed=removed)

    async def prune(self) -> None:
        """Delete the data no snapshot references any more (takes the repository's exclusive lock)."""
        await self._run("prune", [])


def _writer(fd: int) -> Write:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    return write


async def _read_all(process: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = await asyncio.gather(process.stdout.read(), process.stderr.read())
    return stdout, stderr


async def _ended_or_stopped(process: asyncio.subprocess.Process, err: BaseException) -> bool:
    """After the other end of a stream failed: True when restic had ended by itself (its own failure
    is then the cause); otherwise it is stopped now and False. A cancellation stops it at once."""
    if isinstance(err, Exception):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), 1.0)
    if process.returncode is not None:
        return True
    await _stop(process)
    return False


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGINT first (restic stops writing at once and exits), then kill."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), _STOP_GRACE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _summary(stdout: bytes) -> BackupSummary:
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return BackupSummary(
                    snapshot_id=str(message["snapshot_id"]),
                    bytes_processed=int(message.get("total_bytes_processed") or 0),
                    bytes_added=int(message.get("data_added") or 0),
                    seconds=float(message.get("total_duration") or 0.0),
                )
    raise UnavailableError(
        "restic backup ended without a summary", advice="check the repository, then re-run"
    )
