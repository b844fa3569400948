"""The one settings model of the platform (environment variables with the ``CFA_`` prefix).

Load it once at process start with :func:`load_settings` and pass it down; nothing else reads
``os.environ``. Secrets are ``SecretStr`` so that they print as ``**********``.
"""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.capacity import Overcommit, ServerBudget, parse_capacity, parse_overcommit

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAN_MAX_STACKS = {"starter": 2, "team": 10, "business": 25}
DEFAULT_BACKUP_POLICY = {"starter": "none", "team": "daily", "business": "daily", "sovereign": "daily"}
BACKUP_FREQUENCIES = ("none", "daily")


class Settings(BaseSettings):
    """All configuration. Field names map to ``CFA_<NAME>`` environment variables."""

    # A blank CFA_ variable (compose.yml passes ${X:-}) means unset, not an invalid value.
    model_config = SettingsConfigDict(env_prefix="CFA_", extra="ignore", frozen=True, env_ignore_empty=True)

    # --- Coolify -------------------------------------------------------------------------------------
    coolify_url: AnyHttpUrl | None = Field(
        default=None, description="Coolify base URL; the client appends /api/v1. Unset: dry-run."
    )
    coolify_token: SecretStr | None = Field(
        default=None, description="Coolify API token (read, write, deploy)."
    )
    coolify_server_uuid: str | None = Field(
        default=None,
        description="Pin every new stack to this server; default: the budgeted server with the most "
        "headroom (without CFA_CAPACITY: the first usable and reachable one).",
    )
    coolify_destination_uuid: str | None = Field(
        default=None, description="Destination (Docker network); needed only if the server has several."
    )
    coolify_rate_limit_per_minute: int = Field(
        default=190, ge=1, description="Client-side request budget, kept under Coolify's 200/min default."
    )
    coolify_timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout.")
    coolify_max_attempts: int = Field(default=5, ge=1, description="Attempts for retryable requests.")

    # --- PocketBase ----------------------------------------------------------------------------------
    pocketbase_url: AnyHttpUrl | None = Field(
        default=None, description="PocketBase URL; unset: an embedded PocketBase under CFA_DATA_DIR."
    )
    pocketbase_email: str | None = Field(default=None, description="PocketBase superuser email.")
    pocketbase_password: SecretStr | None = Field(default=None, description="PocketBase superuser password.")
    data_dir: Path = Field(
        default_factory=lambda: _user_data_dir(),
        description="Local state: embedded PocketBase, monitor state (the same wherever cfa runs).",
    )

    # --- Provisioning --------------------------------------------------------------------------------
    base_domain: str | None = Field(
        default=None, description="Public hostnames are <stack>-<tenant>.<base domain>."
    )
    router_url: AnyHttpUrl | None = Field(
        default=None, description="The CloudFreedom Router (OpenAI-compatible base URL, e.g. https://r/v1)."
    )
    templates_dir: Path = Field(default=REPO_ROOT / "templates", description="The stack template catalog.")
    compose_binary: Path | None = Field(
        default=None,
        description="Docker Compose v2 binary whose loader checks every render; default: found on PATH, "
        "in Docker's cli-plugins or the scripts/compose-v2 cache.",
    )
    plan_max_stacks: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_PLAN_MAX_STACKS),
        description='Stacks per plan, e.g. "starter=2,team=10,business=25".',
    )
    capacity: Annotated[dict[str, ServerBudget], NoDecode] = Field(
        default_factory=dict,
        description='Host budget per Coolify server uuid, or "default" for every server, as JSON: '
        '{"default": {"cpus": 12, "memory": "31G", "disk": "24G"}}. Unset: capacity unknown, nothing '
        "refused (docs/capacity.md).",
    )
    capacity_overcommit: Annotated[Overcommit, NoDecode] = Field(
        default_factory=Overcommit,
        description='Claims may reach budget x ratio, per resource, as JSON: {"cpu": 2.0, "memory": 1.0, '
        '"disk": 1.0} (keys not given keep these defaults).',
    )
    provision_wait_seconds: float = Field(
        default=180.0,
        gt=0,
        description="How long a start (provision, resume) or a stop may take; past it the stack is "
        "recorded failed or degraded. Commands wait this long unless --no-wait.",
    )
    delete_wait_seconds: float = Field(
        default=300.0, gt=0, description="How long Coolify may take to remove a service (delete waits)."
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0, description="Status polling interval.")
    docker_url: str = Field(
        default="unix:///var/run/docker.sock",
        description="The Coolify host's Docker API, for cfa volumes and the backups (helper containers).",
    )
    lock_stale_seconds: float = Field(
        default=60.0,
        ge=3,
        description="A tenant lock whose holder's heartbeat stopped this long ago is taken over.",
    )
    actor: str = Field(
        default_factory=lambda: f"cli:{_current_user()}", description="Who is acting, for the audit trail."
    )
    log_level: str = Field(
        default="INFO", description="Log level of the JSON logs (stderr, or CFA_LOG_FILE)."
    )
    log_file: Path | None = Field(
        default=None,
        description="Also write the full JSON logs here (a terminal shows only warnings and errors).",
    )

    # --- Event functions (cfa serve) ------------------------------------------------------------------
    serve_host: str = Field(
        default="127.0.0.1", description="Bind address of cfa serve (webhooks, health, metrics)."
    )
    serve_port: int = Field(
        default=8480, ge=0, le=65535, description="Port of cfa serve (0: pick a free one)."
    )
    serve_forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies (comma separated addresses, or *) whose X-Forwarded-For/-Proto cfa serve "
        "trusts: the admin pages' client address and https come from them.",
    )
    functions_url: AnyHttpUrl | None = Field(
        default=None,
        description="Where Coolify reaches cfa serve (https://…); cfa hooks install and doctor use it.",
    )
    webhook_token: SecretStr | None = Field(
        default=None,
        description="The secret path segment of Coolify's webhook URL (/hooks/coolify/<token>); unset: "
        "the receiver refuses every call.",
    )
    reconcile_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often desired state is compared with all of Coolify (and at start).",
    )
    status_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often stacks in a transitional status are checked (one list call).",
    )
    handler_max_attempts: int = Field(
        default=4,
        ge=1,
        description="Attempts of a handler on a retryable failure before the stack is failed.",
    )
    handler_concurrency: int = Field(default=8, ge=1, description="Handlers running at once in cfa serve.")
    shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long in-flight handlers may finish before they are cancelled.",
    )
    catchup_margin_seconds: float = Field(
        default=120.0,
        ge=0,
        description="After a realtime reconnect, records updated this long before the last seen are re-read.",
    )
    realtime_probe_seconds: float = Field(
        default=240.0,
        gt=0,
        description="How often cfa serve proves its realtime subscription delivers (a probe record; keeps it "
        "from PocketBase's 5-minute idle close).",
    )
    test_crash_at: str | None = Field(
        default=None,
        description="Tests only: the process kills itself right after this audit event is written.",
    )

    # --- Admin pages (cfa serve, /admin) -------------------------------------------------------------
    admin_secret_key: SecretStr | None = Field(
        default=None,
        description="Signs the admin pages' cookies; the same on every cfa serve replica (unset: a key per "
        "process, so operators sign in again after a restart).",
    )
    admin_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long an operator's sign-in lasts."
    )
    admin_secure_cookies: bool | None = Field(
        default=None,
        description="Mark the admin cookies Secure (unset: when the request came over https, e.g. through "
        "Traefik with forwarded headers).",
    )
    admin_login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins per account or address within the window before sign-in is refused.",
    )
    admin_login_window_seconds: float = Field(
        default=900.0, gt=0, description="The window that failed sign-ins are counted in."
    )
    admin_page_size: int = Field(default=50, ge=5, le=500, description="Rows per page in the admin lists.")
    # --- Backups (restic; docs/backups.md) -----------------------------------------------------------
    backup_repository: str | None = Field(
        default=None,
        description="The restic repository: a path on the host running cfa (e.g. /backups/restic) or "
        "s3:https://host/bucket/path. Unset: backups are off.",
    )
    backup_password: SecretStr | None = Field(
        default=None, description="The restic repository's password (given to restic in its environment)."
    )
    backup_s3_access_key_id: str | None = Field(
        default=None, description="S3 access key id for an s3: repository."
    )
    backup_s3_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret access key for an s3: repository."
    )
    backup_policy: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_BACKUP_POLICY),
        description='Backups per plan, daily or none, e.g. "starter=none,team=daily,business=daily".',
    )
    backup_keep_daily: int = Field(default=7, ge=1, description="Daily snapshots kept per stack.")
    backup_keep_weekly: int = Field(default=4, ge=0, description="Weekly snapshots kept per stack.")
    backup_time: str = Field(
        default="03:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="When cfa serve runs the daily backups (HH:MM, UTC).",
    )
    backup_missed_hours: float = Field(
        default=26.0,
        gt=0,
        description="A stack on a plan with backups whose last one is older than this raises an alert.",
    )
    backup_helper_image: str = Field(
        default="busybox:1.36.1",
        description="Image of the helper containers that read and write volumes (needs sh, cp, find).",
    )

    # --- Monitor -------------------------------------------------------------------------------------
    apprise_urls: SecretStr | None = Field(
        default=None, description="Apprise URLs, space or comma separated (they embed tokens)."
    )
    apprise_config: Path | None = Field(default=None, description="An Apprise config file instead of URLs.")
    runbook_base_url: str = Field(
        default="https://git.cloudfreedom.example/agents/blob/main/",
        description="Alerts link to <this>runbooks/<kind>.md.",
    )
    monitor_docker_url: str = Field(
        default="unix:///var/run/docker.sock",
        description="Docker API the monitor reads (read-only socket); set explicitly, never a CLI context.",
    )
    monitor_host_name: str | None = Field(
        default=None, description="Host name shown in alerts and fingerprints (default: the machine's name)."
    )
    monitor_http_host: str = Field(default="127.0.0.1", description="Bind address of /healthz and /metrics.")
    monitor_http_port: int = Field(
        default=9465, ge=0, le=65535, description="Port of /healthz and /metrics (0: do not serve)."
    )
    monitor_heartbeat_url: SecretStr | None = Field(
        default=None, description="Dead man's switch URL pinged while the monitor is healthy (a secret)."
    )
    monitor_heartbeat_interval_seconds: float = Field(default=60.0, gt=0, description="Heartbeat period.")
    monitor_disk_paths: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("/")],
        description="Host filesystems to watch (bind-mounted into the monitor), comma separated.",
    )
    monitor_disk_warning_percent: float = Field(default=80.0, gt=0, le=100, description="Disk warning level.")
    monitor_disk_critical_percent: float = Field(
        default=90.0, gt=0, le=100, description="Disk critical level."
    )
    monitor_disk_clear_margin_percent: float = Field(
        default=5.0, ge=0, description="A disk alert resolves this far below the warning level (hysteresis)."
    )
    monitor_disk_interval_seconds: float = Field(
        default=60.0, gt=0, description="Host filesystem check period."
    )
    monitor_volume_interval_seconds: float = Field(
        default=300.0, ge=0, description="Per-stack volume usage check period (0: off); /system/df is costly."
    )
    monitor_volume_warning_percent: float = Field(
        default=90.0, gt=0, description="Volume usage warning, in percent of the plan's volume budget."
    )
    monitor_volume_critical_percent: float = Field(
        default=100.0,
        gt=0,
        description="Volume usage critical level, in percent of the plan's volume budget.",
    )
    monitor_repeat_interval_seconds: float = Field(
        default=4 * 3600.0, gt=0, description="Re-send a page for an incident still firing after this long."
    )
    monitor_group_window_seconds: float = Field(
        default=10.0,
        ge=0,
        description="After a page, further pages within this window go out as one summary.",
    )
    monitor_resolve_hold_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Flap suppression: a resolve must hold this long before it is announced.",
    )
    monitor_recovery_seconds: float = Field(
        default=600.0,
        gt=0,
        description="OOM, crash and crash-loop incidents resolve once the container ran this long.",
    )
    monitor_crash_loop_count: int = Field(
        default=3, ge=2, description="Deaths within the window that make a loop."
    )
    monitor_crash_loop_window_seconds: float = Field(
        default=600.0, gt=0, description="Sliding window for crash-loop detection."
    )
    monitor_oom_confirm_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How long an `oom` waits for a `die` (container killed vs a process inside killed).",
    )
    monitor_stop_intent_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A stop, restart or stopping kill (TERM, KILL, INT) excuses a death this long after.",
    )
    monitor_reconcile_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Periodic full re-check of container state (also on every reconnect).",
    )
    monitor_reconcile_lookback_seconds: float = Field(
        default=600.0,
        ge=0,
        description="On a first start, deaths this recent found by the re-check are reported.",
    )
    monitor_gap_report_seconds: float = Field(
        default=5.0, ge=0, description="A lost event stream is reported as a gap once it was down this long."
    )
    monitor_reconnect_max_seconds: float = Field(
        default=30.0, gt=0, description="Cap of the exponential reconnect backoff (it starts at 0.5 s)."
    )
    monitor_ping_interval_seconds: float = Field(
        default=10.0, gt=0, description="Docker ping period; a failed ping closes a possibly hung stream."
    )
    monitor_notify_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Upper bound of one Apprise delivery attempt."
    )
    monitor_notify_retry_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Cap of the delivery retry backoff; undelivered alerts stay in the outbox.",
    )
    monitor_directory_refresh_seconds: float = Field(
        default=60.0, gt=0, description="How often stack records (status, service uuid) are re-read."
    )
    monitor_mirror_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often new incident changes are copied to PocketBase."
    )
    monitor_tick_seconds: float = Field(
        default=1.0, gt=0, description="Timer resolution for grouping, resolve holds, repeats and expiries."
    )

    @field_validator("monitor_disk_paths", mode="before")
    @classmethod
    def _parse_monitor_disk_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(part) for part in value.replace(",", " ").split()]
        return value

    @field_validator("plan_max_stacks", mode="before")
    @classmethod
    def _parse_plan_max_stacks(cls, value: object) -> object:
        if isinstance(value, str):
            parsed: dict[str, int] = {}
            for part in value.replace(";", ",").split(","):
                if not part.strip():
                    continue
                name, sep, number = part.partition("=")
                if not sep or not number.strip().isdigit():
                    raise ValueError(f"expected plan=count pairs, got {part.strip()!r}")
                parsed[name.strip()] = int(number)
            return parsed
        return value

    @field_validator("capacity", mode="before")
    @classmethod
    def _parse_capacity(cls, value: object) -> object:
        return parse_capacity(value)

    @field_validator("capacity_overcommit", mode="before")
    @classmethod
    def _parse_capacity_overcommit(cls, value: object) -> object:
        return parse_overcommit(value)

    @field_validator("backup_policy", mode="before")
    @classmethod
    def _parse_backup_policy(cls, value: object) -> object:
        if isinstance(value, str):
            parsed: dict[str, str] = {}
            for part in value.replace(";", ",").split(","):
                if not part.strip():
                    continue
                name, sep, frequency = part.partition("=")
                if not sep or frequency.strip() not in BACKUP_FREQUENCIES:
                    raise ValueError(f"expected plan=daily or plan=none pairs, got {part.strip()!r}")
                parsed[name.strip()] = frequency.strip()
            return parsed
        return value

    @field_validator("backup_policy")
    @classmethod
    def _check_backup_policy(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(plan for plan, frequency in value.items() if frequency not in BACKUP_FREQUENCIES)
        if wrong:
            raise ValueError(f"plan(s) {', '.join(wrong)}: the frequency must be daily or none")
        return value

    @field_validator("base_domain")
    @classmethod
    def _check_base_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower().rstrip(".")
        labels = value.split(".")
        if len(labels) < 2 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
            for label in labels
        ):
            raise ValueError(f"{value!r} is not a DNS domain like agents.example.com")
        return value

    @property
    def coolify_dry_run(self) -> bool:
        """With no Coolify URL every Coolify write is only shown, never sent."""
        return self.coolify_url is None

    @property
    def coolify_api_base(self) -> str | None:
        if self.coolify_url is None:
            return None
        return str(self.coolify_url).rstrip("/") + "/api/v1"


def _user_data_dir() -> Path:
    """The XDG data directory for cfa (``$XDG_DATA_HOME/cfa``, else ``~/.local/share/cfa``): one place
    per user, not one per working directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cfa"


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
