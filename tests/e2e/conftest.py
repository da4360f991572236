"""Browser tests: Debian's Chromium driven by Playwright against a live server and the simulator.

Skipped, with the reason in pytest's summary, when Chromium is not installed — unless
E2E_REQUIRED=1 (CI), where a missing browser is a failure.
"""

import os
import random
from pathlib import Path

import pytest

from groups.models import Tenant
from groups.roles import GROUP_EDITORS, SUPPORT, TENANT_ADMINS
from groups.simulator import SimGroup, generate_groups
from tests.conftest import KNOWN_SECRETS, THREAD_TASKS, create_tenant, create_user, ensure_roles

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
# Without these Chromium keeps calling home on a closed network (and as root needs no sandbox).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
REQUIRED = os.environ.get("E2E_REQUIRED") == "1"

# Playwright's sync API runs an event loop in this thread; the tests still set data up
# through the ORM between browser steps, which Django otherwise refuses there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

A_SECRET = "e2e-secret-of-hk-9Lp"
B_SECRET = "e2e-secret-of-cn-4Wq"
KNOWN_SECRETS.update({A_SECRET, B_SECRET})
KNOWN_NUMBER = "85235753351"


def pytest_collection_modifyitems(config, items):
    if REQUIRED:
        return  # with E2E_REQUIRED=1 a missing tool fails in the `browser` fixture
    if not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM}: browser tests skipped (apt-get install chromium)"
    elif not AXE.exists():
        reason = f"no axe-core at {AXE}: browser tests skipped (npm is needed to install it)"
    else:
        return
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"E2E_REQUIRED=1 but there is no Chromium at {CHROMIUM}.")
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make test` (it installs it with npm).")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def make_page(browser, live_server):
    """Open a page of the live server at a viewport size; closed after the test."""
    contexts = []
    blocked = []  # anything our Content-Security-Policy had to block

    def make(viewport=DESKTOP, **options):
        context = browser.new_context(
            viewport=viewport, base_url=live_server.url, accept_downloads=True, **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text and blocked.append(message.text)
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert blocked == [], "the page needed something the Content-Security-Policy forbids"


@pytest.fixture
def world(transactional_db, simulator, settings):
    """Two tenants on the simulator (one big enough to page and to show progress), a support
    user granted the first, and a tenant admin."""
    settings.TASKS = THREAD_TASKS
    ensure_roles()
    big = generate_groups(random.Random(11), groups=2_400, phones=24_000)
    big.insert(0, SimGroup("a" * 32, "Front desk", "cus_1", "Main line\nsecond line",
                           [KNOWN_NUMBER, "85211111114", "447911123456"]))  # fmt: skip
    simulator.add_account("ak-hk", A_SECRET, big)
    simulator.add_account(
        "ak-cn", B_SECRET, [SimGroup("b" * 32, "Mainland", "", "", [KNOWN_NUMBER, "8613800138000"])]
    )
    hk = create_tenant(
        "hk-hotline", secret=A_SECRET, access_key="ak-hk", api_url=simulator.url,
        name="Hong Kong Hotline", default_region="HK",
    )  # fmt: skip
    cn = create_tenant(
        "cn-support", secret=B_SECRET, access_key="ak-cn", api_url=simulator.url,
        name="Mainland Support",
    )  # fmt: skip
    return {
        "hk": hk,
        "cn": cn,
        "support": create_user("support", roles=[SUPPORT], tenants=[hk]),
        "editor": create_user("editor", roles=[SUPPORT, GROUP_EDITORS], tenants=[hk]),
        "lead": create_user(
            "lead", roles=[SUPPORT], perms=["groups.view_full_numbers"], tenants=[hk]
        ),
        "tenant_admin": create_user("tadmin", roles=[TENANT_ADMINS], staff=True),
        "root": create_user("root", superuser=True),
    }


def log_in(page, username):
    from tests.conftest import PASSWORD

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def wait_for_data(page, tenant: Tenant):
    """Open a tenant and wait until its refresh has finished (the page reloads itself)."""
    page.goto(tenant.get_absolute_url())
    page.wait_for_selector("#group-results table", timeout=60_000)  # in any language


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def axe_violations(page) -> list[dict]:
    """Serious and critical WCAG 2 A/AA violations axe-core finds on the page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
