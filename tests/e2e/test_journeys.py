"""What people do all day, in a real browser."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from groups.models import AuditEvent, NumberGroup, Tenant
from tests.conftest import PASSWORD
from tests.e2e.conftest import (
    DESKTOP,
    KNOWN_NUMBER,
    PHONE,
    axe_violations,
    log_in,
    screenshot,
    wait_for_data,
)


def test_support_works_through_a_day(make_page, world, simulator):
    hk = world["hk"]
    simulator.latency_ms = 150  # a refresh long enough to watch
    page = make_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page, "support")

    # Overview: the one tenant this user may see, not yet read from NXCloud.
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("link", name="Hong Kong Hotline")).to_be_visible()
    expect(page.get_by_text("Mainland Support")).to_have_count(0)

    # The first visit reads NXCloud; the page shows progress, then the groups.
    page.get_by_role("link", name="Hong Kong Hotline").click()
    expect(page.get_by_text("Refreshing from NXCloud…")).to_be_visible()
    page.wait_for_selector("table caption:has-text('Number groups')", timeout=60_000)
    expect(page.locator("p.count")).to_have_text("2,401 groups")

    # Refresh again from the button and watch it finish.
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_selector("table caption:has-text('Number groups')", timeout=60_000)
    expect(page.get_by_text("Updated 0 minutes ago from NXCloud")).to_be_visible()

    # Filter, sort, page size, pagination.
    # The list follows the typing (htmx), and the address keeps the filter.
    page.get_by_role("searchbox", name="Filter groups").fill("Front desk")
    expect(page.get_by_text("1 of 2,401 groups match “Front desk”")).to_be_visible()
    page.wait_for_url(re.compile(r".*/t/hk-hotline/\?q=Front(%20|\+)desk.*"))
    page.reload()
    expect(page.get_by_text("1 of 2,401 groups match “Front desk”")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    page.get_by_role("link", name=re.compile("^Numbers")).click()
    first_counts = page.locator("tbody td.num").all_inner_texts()[:3]
    page.get_by_role("link", name=re.compile("^Numbers")).click()  # descending now
    descending = [int(c.replace(",", "")) for c in page.locator("tbody td.num").all_inner_texts()]
    assert descending == sorted(descending, reverse=True)
    assert first_counts != page.locator("tbody td.num").all_inner_texts()[:3]
    page.get_by_label("Per page").select_option("25")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Page 1 of 97")).to_be_visible()
    page.get_by_role("link", name="Next ›").click()
    expect(page.get_by_text("Page 2 of 97")).to_be_visible()
    assert page.locator("tbody tr").count() == 25

    # A group and its numbers, masked: support may not see them in full.
    page.goto(hk.get_absolute_url() + "?q=Front+desk")
    page.get_by_role("link", name="Front desk").click()
    expect(page.get_by_role("heading", name="Front desk")).to_be_visible()
    expect(page.get_by_text("35•• ••51")).to_be_visible()  # as written in Hong Kong
    expect(page.get_by_role("button", name=re.compile("^Show"))).to_have_count(0)
    assert KNOWN_NUMBER not in page.content()

    # Search one number in three forms, from the header box and with the / key.
    for typed in ("+852 3575 3351", "00852 35753351", "3575 3351"):
        page.keyboard.press("Escape")
        page.locator("body").press("/")
        expect(page.locator("#site-search")).to_be_focused()
        page.locator("#site-search").fill(typed)
        page.locator("#site-search").press("Enter")
        expect(page.get_by_text("1 entry: 1 found, 0 not found, 0 not understood")).to_be_visible()
        expect(page.locator("table.search-results").get_by_text("Front desk")).to_be_visible()
        # Mainland Support also holds the number, but this user cannot see it.
        expect(page.locator("table.search-results").get_by_text("Mainland")).to_have_count(0)

    # A pasted list of 50 with junk among them.
    numbers = list(
        NumberGroup.objects.filter(
            snapshot=Tenant.objects.get(pk=hk.pk).current_snapshot
        ).values_list("phones_text", flat=True)[:40]
    )
    junk = ["hello", "12", "+44 79+1", "x-y", "99999999"]
    entries = [*(n.split(",")[0] for n in numbers), *junk]
    page.goto("/search/")
    page.get_by_role("textbox", name="Phone numbers").fill("\n".join(entries))
    page.get_by_role("button", name="Search", exact=True).click()
    found = len(entries) - 5
    expect(
        page.get_by_text(f"{len(entries)} entries: {found} found, 1 not found, 4 not understood")
    ).to_be_visible()
    expect(page.locator("#not-found-list")).to_have_value("99999999\n")
    expect(page.get_by_text("“hello” has letters")).to_be_visible()

    # Download every CSV and check the rows.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    rows = _csv(download.value)
    assert rows[0][:2] == ["query", "match_kind"]
    assert len([r for r in rows[1:] if r[1] == "exact"]) >= found

    page.goto(hk.get_absolute_url() + "?q=Front+desk")
    with page.expect_download() as download:
        page.get_by_role("link", name="groups CSV").click()
    assert [r[2] for r in _csv(download.value)[1:]] == ["Front desk"]
    with page.expect_download() as download:
        page.get_by_role("link", name="their numbers CSV").click()
    assert [r[3] for r in _csv(download.value)[1:]] == [
        "85235••••51",
        "85211••••14",
        "4479••••••56",
    ]
    page.get_by_role("link", name="Front desk").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="numbers CSV").click()
    assert len(_csv(download.value)) == 4
    page.get_by_role("link", name="refresh history").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    assert [r[2] for r in _csv(download.value)[1:]] == ["ok", "ok"]
    assert AuditEvent.objects.filter(action="export").count() == 5

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_team_lead_reveals_a_number_and_the_audit_log_has_it(make_page, world):
    page = make_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page, "lead")
    wait_for_data(page, world["hk"])
    page.goto(f"/t/hk-hotline/groups/{'a' * 32}/")
    row = page.locator("tbody tr").first  # 85235753351, masked

    # One click shows one number where it is, and the audit log has it.
    row.get_by_role("button", name="Show the full number 35•• ••51").click()
    expect(row).to_contain_text("3575 3351")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.locator(".masked")).to_have_count(2)  # the others stay masked
    event = AuditEvent.objects.get(action="number_revealed")
    assert (event.username, event.details) == ("lead", {"number": KNOWN_NUMBER})

    # The whole group in full, and copied as text.
    page.get_by_role("button", name="Show all 3 numbers").click()
    expect(page.get_by_text("Full numbers shown (this is in the audit log).")).to_be_visible()
    page.get_by_role("button", name="Copy all 3").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.split() == [KNOWN_NUMBER, "85211111114", "447911123456"]
    assert AuditEvent.objects.filter(action="number_revealed").count() == 2


def test_a_support_agent_works_in_chinese(make_page, world):
    # The browser asks for Chinese: the login page is in Chinese from the start.
    page = make_page(locale="zh-CN")
    page.goto("/accounts/login/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("用户名").fill("support")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="概览")).to_be_visible()
    wait_for_data(page, world["hk"])

    # A search, its counts, a number found from its last digits (masked), and one not understood.
    page.locator("#site-search").fill("3351")
    page.locator("#site-search").press("Enter")
    expect(page.get_by_text("1 项：找到 1 项，未找到 0 项，无法识别 0 项")).to_be_visible()
    expect(page.locator("table.search-results")).to_contain_text("结尾匹配")
    page.goto("/search/?q=hello")
    expect(page.get_by_text("含有字母或号码中不会出现的字符")).to_be_visible()
    screenshot(page, "search-zh-hans")

    # The header switches to English, and the choice sticks over the browser's.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Search numbers")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("heading", name="概览")).to_be_visible()


def _csv(download) -> list[list[str]]:
    with open(download.path(), encoding="utf-8", newline="") as file:
        return list(csv.reader(io.StringIO(file.read())))


def test_a_support_user_cannot_reach_another_tenant(make_page, world):
    page = make_page()
    log_in(page, "support")
    for url in ("/t/cn-support/", "/t/cn-support/groups.csv", "/t/cn-support/syncs/"):
        response = page.goto(url)
        assert response.status == 404, url
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert page.goto("/admin/").status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_a_tenant_admin_adds_a_tenant_and_tests_the_connection(make_page, world, simulator):
    simulator.add_account("ak-new", "e2e-new-secret-77", [])
    page = make_page()
    log_in(page, "tadmin")
    page.goto("/admin/groups/tenant/add/")
    page.locator("#id_name").fill("New Account")
    page.locator("#id_slug").fill("new-account")
    page.locator("#id_api_url").fill(simulator.url)
    page.locator("#id_access_key").fill("ak-new")
    page.locator("#id_access_secret").fill("e2e-new-secret-77")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("A secret is set (last changed")).to_be_visible()
    assert "e2e-new-secret-77" not in page.content()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("New Account: OK — 0 groups")).to_be_visible()


MAIN_PAGES = [
    ("overview", "/"),
    ("groups", "/t/hk-hotline/"),
    ("group", "/t/hk-hotline/groups/" + "a" * 32 + "/"),
    ("search", "/search/?q=%2B852+3575+3351%0A3351%0Ahello%0A99999999"),
    ("history", "/t/hk-hotline/syncs/"),
    ("changes", "/t/hk-hotline/changes/"),
    ("password", "/accounts/password/"),
    ("two-factor", "/accounts/2fa/setup/"),
]


def test_a_group_editor_changes_a_group_and_support_sees_its_history(make_page, world, simulator):
    page = make_page()
    log_in(page, "editor")
    wait_for_data(page, world["hk"])

    # A new group: the form, the confirmation naming the account, then NXCloud has it.
    page.get_by_role("link", name="New group").click()
    page.get_by_label("Group name").fill("Night shift")
    page.get_by_label("Numbers", exact=True).fill(
        "+852 9123 4567\n+65 9123 4567\n+852 9123 4567\n12"
    )
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_text("“12” has no country code we know.")).to_be_visible()
    page.get_by_label("Numbers", exact=True).fill("+852 9123 4567\n+65 9123 4567")
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_role("heading", name="Confirm: new group")).to_be_visible()
    expect(page.get_by_text("Hong Kong Hotline (access key ak-hk)")).to_be_visible()
    page.get_by_role("button", name="Send to NXCloud").click()
    expect(page.get_by_text("Group created in NXCloud with 2 numbers.")).to_be_visible()
    assert any(g.name == "Night shift" for g in simulator.accounts["ak-hk"].groups.values())

    # Remove a number from the front desk group, after seeing exactly which.
    page.goto(f"/t/hk-hotline/groups/{'a' * 32}/")
    page.get_by_role("link", name="Change numbers").click()
    page.get_by_label("Remove these numbers").check()
    page.get_by_label("Numbers", exact=True).fill("+44 7911 123456")
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_text("Numbers after")).to_be_visible()
    expect(page.locator(".number-list")).to_contain_text("+44 7911 123456")  # as typed
    page.get_by_role("button", name="Send to NXCloud").click()
    expect(page.get_by_text("Saved in NXCloud: 0 added, 1 removed.")).to_be_visible()
    expect(page.get_by_role("region", name="History of this group")).to_contain_text(
        "number removed"
    )
    screenshot(page, "group-history-desktop")

    # Support searches that number: it is no longer in the group, and the page says since when.
    page.get_by_role("button", name="Log out").click()
    log_in(page, "support")
    page.goto("/search/?q=%2B44+7911+123456")
    expect(page.get_by_role("heading", name="No longer in these groups (1)")).to_be_visible()
    expect(page.get_by_text("was in this group until")).to_be_visible()
    page.goto("/t/hk-hotline/changes/")
    expect(page.get_by_role("cell", name="Night shift").first).to_be_visible()


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_main_pages_have_no_serious_accessibility_problems(make_page, world, size, viewport):
    # axe-core is injected as an inline script, which our Content-Security-Policy forbids: the
    # test tool (only) is let through. The journeys above run under the policy.
    page = make_page(viewport=viewport, bypass_csp=True)
    page.goto("/accounts/login/")
    assert axe_violations(page) == []
    screenshot(page, f"login-{size}")
    log_in(page, "support")
    wait_for_data(page, world["hk"])
    for name, url in MAIN_PAGES:
        page.goto(url)
        assert axe_violations(page) == [], name
        screenshot(page, f"{name}-{size}")
