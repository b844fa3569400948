"""``cfa hooks install``: point Coolify's team webhook channel at ``cfa serve``'s receiver.

The URL is ``<functions url>/hooks/coolify/<CFA_WEBHOOK_TOKEN>`` (Coolify signs nothing: the token in
the path is the only proof). The events switched on are the ones the receiver handles — scheduled tasks
of services, server reachability and disk usage; deployment events are switched off (compose services
send none, ``coolify-api.md`` §10). Idempotent; audited without the token.

Coolify refuses a loopback or private URL unless it is allowed in Settings → Advanced
("webhook_allowed_internal_hosts"): that 422 comes back with this advice.
"""

from __future__ import annotations

from pydantic import BaseModel

from functions.context import Context
from shared.coolify.models import WebhookNotificationsUpdate
from shared.errors import ConfigurationError, InvalidInput, RejectedError

HANDLED = {
    "scheduled_task_success_webhook_notifications": True,
    "scheduled_task_failure_webhook_notifications": True,
    "server_disk_usage_webhook_notifications": True,
    "server_reachable_webhook_notifications": True,
    "server_unreachable_webhook_notifications": True,
    "deployment_success_webhook_notifications": False,
    "deployment_failure_webhook_notifications": False,
}


class HooksResult(BaseModel):
    url: str  # with the token masked
    events: list[str]


def receiver_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/hooks/coolify/{token}"


async def install_hooks(ctx: Context, base_url: str) -> HooksResult:
    token = ctx.settings.webhook_token
    if token is None:
        raise ConfigurationError(
            "CFA_WEBHOOK_TOKEN is not set",
            advice="set it (e.g. `openssl rand -hex 24`) for cfa serve and here",
        )
    if not base_url.startswith(("https://", "http://")):
        raise InvalidInput(
            "--url", f"{base_url!r} is not an http(s) URL", advice="e.g. https://functions.example.com"
        )
    url = receiver_url(base_url, token.get_secret_value())
    body = WebhookNotificationsUpdate(webhook_enabled=True, webhook_url=url, **HANDLED)
    try:
        await ctx.coolify.update_webhook_notifications(body)
    except RejectedError as err:
        if "webhook_url" in err.field_errors:
            err.advice = (
                "Coolify refuses loopback and private addresses: use its public URL, or allow the host "
                "in Coolify's Settings → Advanced (webhook allowed internal hosts)"
            )
        raise
    shown = receiver_url(base_url, "***")
    events = sorted(k.removesuffix("_webhook_notifications") for k, on in HANDLED.items() if on)
    await ctx.store.audit("hooks.installed", details={"url": shown, "events": events})
    await ctx.store.flush()
    return HooksResult(url=shown, events=events)
