"""Secret parameters never sit readable in a record and appear in no log line (at DEBUG), no audit
event and no non-superuser API response — whichever way they arrive."""

from __future__ import annotations

import json

import httpx

from tests.fakes.coolify import FakeCoolify
from tests.monitor.support import wait_until
from tests.serve.conftest import StartServe
from tests.serve.harness import PB, ROUTER_KEY, TELEGRAM, tenant_record

INBOX_TOKEN = "987654321:AAinboxtokeninboxtokeninboxtokeninb"
PARAMS_KEY = "sk-written-into-params-00000001"


def test_no_secret_leaks_by_any_way_in(
    start_serve: StartServe, pbr: PB, writer: PB, served_coolify: tuple[FakeCoolify, str]
) -> None:
    """Secrets given in requested_stacks, through the write-only inbox (a non-superuser), and written
    straight into a stack's params all end up only in stack_secrets and Coolify's variables."""
    fake, _ = served_coolify
    serve = start_serve().ready()
    requested = {
        "template": "telegram-bot",
        "name": "bot",
        "params": {"telegram_token": TELEGRAM, "router_api_key": ROUTER_KEY},
    }
    tenant = pbr.create("tenants", tenant_record("acme", requested_stacks=[requested]))
    wait_until(lambda: (s := pbr.stack(tenant["id"], "bot")) and s["status"] == "running", what="acme/bot")

    writer.create(
        "secret_inputs", {"tenant": "acme", "stack": "bot", "values": {"telegram_token": INBOX_TOKEN}}
    )
    wait_until(
        lambda: pbr.records("secret_inputs") == [] and len(pbr.audit("secrets.received")) == 2,
        what="the inbox moved",
    )
    other = pbr.create(
        "stacks",
        {
            "tenant": tenant["id"],
            "name": "other",
            "template": "telegram-bot",
            "desired_state": "running",
            "status": "pending",
            "params": {"telegram_token": TELEGRAM, "router_api_key": PARAMS_KEY},
        },
    )
    wait_until(lambda: pbr.get("stacks", other["id"])["status"] == "running", what="acme/other")
    bot = pbr.stack(tenant["id"], "bot")
    assert bot is not None
    wait_until(
        lambda: fake.env_values(bot["coolify_service_uuid"]).get("TELEGRAM_BOT_TOKEN") == INBOX_TOKEN,
        what="the new token in Coolify",
    )
    serve.stop()

    secrets = (TELEGRAM, ROUTER_KEY, INBOX_TOKEN, PARAMS_KEY)
    log = serve.log()
    assert "debug" in log  # the log was at DEBUG
    for secret in secrets:
        assert secret not in log, "a secret in the log"
    readable = json.dumps([pbr.records(c) for c in ("tenants", "stacks", "audit_events")])
    for secret in secrets:
        assert secret not in readable, "a secret in a record other than stack_secrets"
    assert not {"telegram_token", "router_api_key"} & set(pbr.get("stacks", other["id"])["params"])

    for collection in ("tenants", "stacks", "stack_secrets", "secret_inputs", "audit_events"):
        answer = writer.http.get(
            f"/api/collections/{collection}/records", headers={"Authorization": writer.token}
        )
        assert answer.status_code == 403 or answer.json()["items"] == [], collection
    guest = httpx.get(str(writer.http.base_url.join("/api/collections/stack_secrets/records")))
    assert guest.status_code == 403 or guest.json()["items"] == []
