"""The admin pages in a real browser: Debian's Chromium driven by Playwright, against ``cfa serve`` as a
subprocess on a real PocketBase and the fake Coolify.

Screenshots are saved to the test's temp dir, and to ``$CFA_SCREENSHOTS_DIR`` when it is set
(``make screenshots`` refreshes the ones in ``docs/screenshots/`` that the README shows).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from shared.pocketbase.embedded import free_port
from tests.fakes.coolify import FakeCoolify
from tests.monitor.support import wait_until
from tests.serve.conftest import StartServe
from tests.serve.harness import PB, ROUTER_KEY, TELEGRAM, Serve, bot_request, tenant_record

CHROMIUM = Path(os.environ.get("CFA_TEST_CHROMIUM", "/usr/bin/chromium"))
OPERATOR = "ops@cloudfreedom.example"
PASSWORD = "operator-password-1"
ACTOR = f"operator:{OPERATOR}"
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
KEY = "admin-signing-key-for-the-browser-tests-0123"
# Read at import: the tests' clean environment hides CFA_ variables from the tests themselves.
PUBLISH = Path(os.environ["CFA_SCREENSHOTS_DIR"]) if os.environ.get("CFA_SCREENSHOTS_DIR") else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's own fixtures are not used: their session-long event loop would outlive this module.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


class Shots:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "screenshots"
        self.dir.mkdir()
        self.publish = PUBLISH

    def take(self, page: Page, name: str) -> None:
        path = self.dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if self.publish is not None:
            self.publish.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.publish / path.name)


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


@pytest.fixture
def admin(start_serve: StartServe, pbr: PB) -> Serve:
    """cfa serve with the admin pages, and one operator account."""
    pbr.create("operators", {"email": OPERATOR, "password": PASSWORD, "passwordConfirm": PASSWORD})
    return start_serve(CFA_ADMIN_SECRET_KEY=KEY).ready()


def sign_in(page: Page, serve: Serve, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(OPERATOR)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def watch_dialogs(page: Page) -> list[str]:
    seen: list[str] = []

    def record(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return seen


def stack_record(pbr: PB, name: str = "bot") -> dict[str, Any]:
    (stack,) = [s for s in pbr.records("stacks") if s["name"] == name]
    return stack


def test_an_operator_runs_a_stacks_whole_life_from_the_browser(
    browser: Browser, admin: Serve, pbr: PB, served_coolify: tuple[FakeCoolify, str], shots: Shots
) -> None:
    """Sign in, create a tenant, provision through the generated form and watch it reach running,
    suspend, resume, delete with the typed confirmation — every step audited as the operator."""
    fake, _ = served_coolify
    fake.state.transition_delay = 1.0  # long enough to see the status move
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs = watch_dialogs(page)

    page.goto(f"{admin.url}/admin/")
    expect(page).to_have_url(f"{admin.url}/admin/login?next=%2Fadmin%2Ftenants")
    sign_in(page, admin, password="wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    shots.take(page, "sign-in")
    sign_in(page, admin)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()

    page.get_by_role("link", name="Create tenant").click()
    page.get_by_label("Slug").fill("acme")
    page.get_by_label("Name").fill("Acme GmbH")
    page.get_by_label("Plan").select_option("team")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("status")).to_have_text("Tenant acme created.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme GmbH")

    page.get_by_label("Template").select_option("telegram-bot")
    page.get_by_role("button", name="Provision a stack…").click()
    expect(page.locator("#param\\.telegram_token")).to_have_attribute("type", "password")
    page.locator("#param\\.telegram_token").fill(TELEGRAM)
    page.locator("#param\\.router_api_key").fill(ROUTER_KEY)
    page.locator("#param\\.system_prompt").fill("Answer in German, briefly.")
    shots.take(page, "provision-form")
    page.get_by_role("button", name="Provision", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Provisioning acme/bot was queued")
    status = page.locator("#status-bot")
    expect(status).to_have_attribute("data-status", "running", timeout=30_000)
    shots.take(page, "tenant-running")
    assert TELEGRAM not in page.content() and ROUTER_KEY not in page.content()
    assert stack_record(pbr)["params"]["system_prompt"] == "Answer in German, briefly."

    page.locator("#stack-bot").get_by_role("button", name="Suspend").click()
    expect(page.locator("#status-bot")).to_have_attribute("data-status", "suspended", timeout=30_000)
    page.locator("#stack-bot").get_by_role("button", name="Resume").click()
    expect(page.locator("#status-bot")).to_have_attribute("data-status", "running", timeout=30_000)

    page.locator("#stack-bot").get_by_role("link", name="Delete…").click()
    page.get_by_label("Type the stack's name").fill("bott")
    page.get_by_role("button", name="Delete bot").click()
    expect(page.get_by_role("alert")).to_contain_text("type the stack's name, bot, to confirm")
    assert stack_record(pbr)["desired_state"] == "running"
    page.get_by_label("Type the stack's name").fill("bot")
    shots.take(page, "delete-confirmation")
    page.get_by_role("button", name="Delete bot").click()
    expect(page.locator("#status-bot")).to_have_attribute("data-status", "deleted", timeout=30_000)
    page.get_by_role("link", name="Full audit log of acme").click()
    shots.take(page, "audit-log")

    assert dialogs == []
    done = {(e["actor"], e["action"]) for e in pbr.audit()}
    for action in (
        "tenants.created",
        "provision.started",
        "suspend.requested",
        "resume.requested",
        "delete.requested",
    ):
        assert (ACTOR, action) in done, action
    # The event functions saw each change but did not send it to Coolify a second time.
    assert ("functions", "suspend.requested") not in done and ("functions", "resume.requested") not in done
    page.close()


class Attacker:
    """Another site (``localhost`` is a different site from ``127.0.0.1``) whose page posts a form to
    the admin pages — the forged cross-site request a CSRF defence must stop."""

    def __init__(self, target: str, fields: dict[str, str]) -> None:
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        body = (
            f'<!doctype html><title>Win a prize</title><form method="post" action="{target}">{inputs}'
            '<button type="submit">Claim</button></form>'
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://localhost:{self.port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_forged_missing_and_cross_site_requests_change_nothing(
    browser: Browser, admin: Serve, pbr: PB, shots: Shots
) -> None:
    """With a running stack (provisioned by the event functions from its tenant record, whose name and
    system prompt are hostile markup: shown as text, nothing runs): a direct URL without a session
    lands on sign-in; a form whose CSRF token was removed or replaced is refused; a cross-site form
    post is refused even carrying the real token. The stack keeps running."""
    record = tenant_record("acme", name=HOSTILE, requested_stacks=[bot_request("bot", system_prompt=HOSTILE)])
    tenant = pbr.create("tenants", record)
    wait_until(lambda: (pbr.stack(tenant["id"], "bot") or {}).get("status") == "running", what="bot running")

    anonymous = browser.new_page()
    anonymous.goto(f"{admin.url}/admin/tenants/acme")
    expect(anonymous).to_have_url(f"{admin.url}/admin/login?next=%2Fadmin%2Ftenants%2Facme")
    anonymous.close()

    context = browser.new_context()
    page = context.new_page()
    dialogs = watch_dialogs(page)
    page.goto(f"{admin.url}/admin/tenants/acme")
    sign_in(page, admin)
    expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE)
    expect(page.locator(".audit")).to_contain_text("<img src=x onerror=")  # the recorded parameters
    assert page.locator("img[src=x]").count() == 0 and page.title() != "pwned"
    page.goto(f"{admin.url}/admin/tenants")
    expect(page.locator("table")).to_contain_text(HOSTILE)
    assert page.title() != "pwned" and dialogs == []

    page.goto(f"{admin.url}/admin/tenants/acme")
    suspend_form = "#stack-bot form[action$='/suspend']"
    page.eval_on_selector(f"{suspend_form} input[name=csrf_token]", "input => input.value = 'forged'")
    page.locator("#stack-bot").get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("alert")).to_contain_text("security token")
    shots.take(page, "refused-csrf")

    page.goto(f"{admin.url}/admin/tenants/acme")
    page.eval_on_selector(f"{suspend_form} input[name=csrf_token]", "input => input.remove()")
    page.locator("#stack-bot").get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("alert")).to_contain_text("security token")

    page.goto(f"{admin.url}/admin/tenants/acme")
    token = page.locator(f"{suspend_form} input[name=csrf_token]").input_value()
    attacker = Attacker(f"{admin.url}/admin/tenants/acme/stacks/bot/suspend", {"csrf_token": token})
    try:
        page.goto(attacker.url)
        page.get_by_role("button", name="Claim").click()
        expect(page.get_by_role("alert")).to_be_visible()
    finally:
        attacker.stop()

    stack = stack_record(pbr)
    assert (stack["desired_state"], stack["status"]) == ("running", "running")
    reasons = sorted(e["details"]["reason"] for e in pbr.audit("admin.request_refused"))
    assert reasons == ["csrf", "csrf"]  # the cross-site post carried no session cookie at all
    assert not [e for e in pbr.audit("suspend.requested")]
    context.close()
