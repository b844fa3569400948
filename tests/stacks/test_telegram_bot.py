"""telegram-bot, for real: the image built from ``templates/telegram-bot/app/Dockerfile`` as it is (on a
Debian base made here: no registry), the compose exactly as ``cfa templates render`` prints it, run on a
private Docker engine in a loopback-only namespace with a fake Telegram Bot API and a fake Router.

Proven: the rendered compose starts and turns healthy; a message is answered through the Router with
the Router key; Docker and the kernel apply the rendered hardening; a stalled poller turns the
healthcheck unhealthy (the app's own 90 s stall threshold) and the monitor, run alongside, pages it
once for the tenant. Test-only changes: the namespace (``network_mode``), ``TELEGRAM_API_BASE`` pointing
at the fake, and healthchecks run every 2 s instead of 30 s. Not proven: real Telegram or a real Router,
and an image built on ``python:3.11-slim`` (the release base; see the app README).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.stacks.harness import (
    TELEGRAM_API_BASE,
    RunEnv,
    StackRun,
    render,
    running_stack,
    sha256,
    wait_for,
)
from tests.stacks.kernel import applied, hardening_problems
from tests.stacks.monitoring import PageSink, monitor_alongside, pages_about
from tests.stacks.report import record_idle

TENANT = "stacks-bot"
STACK = "bot"
MODEL = "stacks-test-model"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def sink(run: RunEnv) -> Iterator[PageSink]:
    page_sink = PageSink()
    yield page_sink
    page_sink.save(run.work / "telegram-bot-pages.json")
    page_sink.close()


@pytest.fixture(scope="module")
def bot(run: RunEnv, api: Any, sink: PageSink) -> Iterator[StackRun]:
    rendered = render(
        run,
        "telegram-bot",
        tenant=TENANT,
        plan="starter",
        params={"image": run.image("telegram-bot"), "model": MODEL},
    )
    (service,) = rendered.services
    extra = {service: {"environment": {"TELEGRAM_API_BASE": TELEGRAM_API_BASE}}}
    with (
        monitor_alongside(run, sink, "telegram-bot"),
        running_stack(run, rendered, name="telegram-bot", api=api, extra=extra) as stack,
    ):
        yield stack


def bot_service(bot: StackRun) -> str:
    (service,) = bot.rendered.services
    return service


def test_the_rendered_bot_becomes_healthy_on_the_image_built_from_the_app(
    run: RunEnv, api: Any, bot: StackRun
) -> None:
    """`up --wait` returned, so Docker judged the bot healthy with the rendered healthcheck command;
    the container runs the image built from the app's Dockerfile (its entrypoint and user)."""
    info = api.inspect_container(bot.container(bot_service(bot)))
    assert info["State"]["Health"]["Status"] == "healthy"
    assert (
        info["Config"]["Healthcheck"]["Test"] == bot.rendered.service(bot_service(bot))["healthcheck"]["test"]
    )
    image = api.inspect_image(info["Image"])
    assert image["Config"]["Entrypoint"] == ["python", "-m", "bot"]
    assert image["Config"]["User"] == "10001:10001"
    assert bot.rendered.loader, "the render was loaded by Docker Compose v2"


def test_a_message_is_answered_through_the_router_with_the_router_key(run: RunEnv, bot: StackRun) -> None:
    """A user's text reaches the fake Router with the stack's Router key and model, and the Router's
    answer comes back to the same chat through sendMessage; every Bot API call carried the bot's token."""
    nonce = secrets.token_hex(6)
    chat = 424242
    bot.fakes.send_message(chat, f"hello {nonce}")
    sent = wait_for(
        lambda: [
            c
            for c in bot.fakes.calls("telegram")
            if c["method"] == "sendMessage" and nonce in str(c["params"].get("text"))
        ],
        what="the bot's answer in the fake Telegram",
        timeout=60,
    )
    assert sent[0]["params"]["chat_id"] == chat
    assert sent[0]["params"]["text"] == f"fake-router reply: hello {nonce}"
    routed = [c for c in bot.fakes.calls("router") if nonce in c.get("user_text", "")]
    assert len(routed) == 1
    assert routed[0]["path"] == "/v1/chat/completions"
    assert routed[0]["auth_sha256"] == sha256(bot.secret(param="router_api_key"))
    assert routed[0]["model"] == MODEL
    telegram = bot.fakes.calls("telegram")
    assert {c["token_sha256"] for c in telegram} == {sha256(bot.secret(param="telegram_token"))}
    typing = [c for c in telegram if c["method"] == "sendChatAction" and c["params"].get("chat_id") == chat]
    assert typing and typing[0]["t"] <= routed[0]["t"] <= sent[0]["t"]


def test_docker_and_the_kernel_apply_the_rendered_hardening(run: RunEnv, api: Any, bot: StackRun) -> None:
    """User, read-only root, tmpfs, no capabilities, no-new-privileges, init, pids, memory and CPU limits,
    log rotation, no ports and only loopback: as rendered, in `docker inspect` and in the kernel."""
    for service, spec in bot.rendered.services.items():
        found = applied(api, bot.container(service))
        assert hardening_problems(found, spec) == [], service
    record_idle(run, api, bot, list(bot.rendered.services))


def test_a_stalled_poller_turns_unhealthy_and_the_monitor_pages_it_once(
    api: Any, bot: StackRun, sink: PageSink
) -> None:
    """With Telegram hanging, the bot's /healthz goes 503 after its stall threshold, Docker marks the
    container unhealthy, and the monitor pages exactly one `unhealthy` page naming tenant and stack
    (more failing checks follow without another page). When Telegram answers again, it recovers."""
    container = bot.container(bot_service(bot))

    def health() -> str:
        return str(api.inspect_container(container)["State"]["Health"]["Status"])

    bot.fakes.stall(True)
    try:
        wait_for(lambda: health() == "unhealthy", what="the bot to turn unhealthy", timeout=240, interval=1)
        wait_for(
            lambda: pages_about(sink.snapshot(), TENANT, STACK, "unhealthy"),
            what="the monitor's unhealthy page",
            timeout=60,
        )
        # Let five more checks (2 s apart) fail while it stays unhealthy: still one page.
        time.sleep(10)
        assert health() == "unhealthy"
        pages = pages_about(sink.snapshot(), TENANT, STACK, "unhealthy")
        assert len(pages) == 1, pages
        assert "health" in pages[0].lower()
    finally:
        bot.fakes.stall(False)
    wait_for(
        lambda: health() == "healthy",
        what="the bot to recover once Telegram answers",
        timeout=120,
        interval=1,
    )
