"""The fake's team webhook channel: ``GET``/``PATCH /notifications/webhook`` (``coolify-api.md`` §10).

Only the documented keys are accepted (422 "This field is not allowed." otherwise); ``webhook_url`` goes
through a model of ``SafeWebhookUrl``: loopback, private and link-local hosts are refused unless listed in
``allowed_internal_hosts`` (Coolify's Settings → Advanced). The URL is returned only to a token that may
read secrets.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from tests.fakes.coolify_api import Ctx, Reply, validation_failed
from tests.fakes.coolify_state import TOGGLES, WebhookSettings


def _unsafe(url: str, allowed: set[str]) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The webhook url must be a valid http(s) URL."
    host = parts.hostname
    if host in allowed:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "The webhook url must not point to an internal host." if host == "localhost" else None
    if address.is_loopback or address.is_private or address.is_link_local:
        return "The webhook url must not point to an internal host."
    return None


def _view(hooks: WebhookSettings, ctx: Ctx) -> dict[str, object]:
    body: dict[str, object] = {"webhook_enabled": hooks.webhook_enabled, **hooks.toggles}
    if ctx.sensitive:
        body["webhook_url"] = hooks.webhook_url
    return body


def get_webhook(ctx: Ctx) -> Reply:
    return Reply(200, _view(ctx.state.webhook, ctx))


def update_webhook(ctx: Ctx) -> Reply:
    hooks: WebhookSettings = ctx.state.webhook
    allowed = {"webhook_enabled", "webhook_url", *TOGGLES}
    unknown = sorted(set(ctx.body) - allowed)
    if unknown:
        return validation_failed({key: ["This field is not allowed."] for key in unknown})
    url = ctx.body.get("webhook_url")
    if url is not None:
        problem = _unsafe(str(url), hooks.allowed_internal_hosts)
        if problem:
            return validation_failed({"webhook_url": [problem]})
        hooks.webhook_url = str(url)
    if "webhook_enabled" in ctx.body:
        hooks.webhook_enabled = bool(ctx.body["webhook_enabled"])
    for key in TOGGLES:
        if key in ctx.body:
            hooks.toggles[key] = bool(ctx.body[key])
    return Reply(200, _view(hooks, ctx))
