"""When NXCloud or the refresh itself fails: the old data stays, the page explains, and the next
refresh recovers. One scenario per fault."""

import html
import random
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import SyncRun
from groups.services import sync_claim, sync_tenant
from groups.simulator import generate_groups
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, create_tenant, create_user

FAULTS = {
    "HTTP 500 on page 3 of 5": ("http_status", {"status": 500, "offset": 2000, "times": None}),
    "malformed JSON": ("malformed_json", {"times": None}),
    "read timeout": ("delay", {"delay_seconds": 1.0, "times": None}),
    "total drifting between pages": ("drift_total", {"times": None}),
    "1003 invalid signature": ("error_code", {"code": 1003, "times": None}),
    "1004 timestamp expired": ("error_code", {"code": 1004, "times": None}),
    "1005 insufficient permissions": ("error_code", {"code": 1005, "times": None}),
}
EXPLAINED = {
    "HTTP 500 on page 3 of 5": "NXCloud answered HTTP 500",
    "malformed JSON": "NXCloud's answer is not JSON",
    "read timeout": "NXCloud did not answer within",
    "total drifting between pages": "kept changing while it was being read",
    "1003 invalid signature": "Invalid signature. Likely causes",
    "1004 timestamp expired": "Timestamp expired",
    "1005 insufficient permissions": "Insufficient permissions",
}


@pytest.fixture
def five_pages(db, simulator, settings, client):
    settings.PNS_TIMEOUT = (1, 0.3)
    groups = generate_groups(random.Random(4), groups=4_500, phones=9_000)
    simulator.add_account(ACCESS_KEY, ACCESS_SECRET, groups)
    tenant = create_tenant(
        "five", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url, name="Five"
    )
    good = sync_tenant(tenant)
    assert (good.status, good.pages_total) == ("ok", 5)
    client.force_login(create_user("helper", tenants=[tenant]))
    return tenant, good


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_keeps_the_snapshot_explains_itself_and_the_next_refresh_recovers(
    client, simulator, five_pages, fault
):
    tenant, good = five_pages
    kind, options = FAULTS[fault]
    simulator.inject(kind, **options)

    failed = sync_tenant(tenant)
    assert failed.status == SyncRun.Status.FAILED
    tenant.refresh_from_db()
    assert tenant.current_snapshot == good.snapshot  # kept

    page = text_of(client.get(tenant.get_absolute_url()))
    assert "The last refresh failed" in page
    assert EXPLAINED[fault] in page
    assert "4,500 groups" in page  # the previous data, still shown
    if failed.request_id:
        assert f"NXCloud requestId: {failed.request_id}" in page
    history = text_of(client.get(f"/t/{tenant.slug}/syncs/"))
    assert EXPLAINED[fault][:40] in history

    simulator.clear_faults()
    recovered = sync_tenant(tenant)
    assert recovered.status == SyncRun.Status.OK


def test_a_refresh_killed_mid_write_keeps_the_snapshot_and_the_next_one_recovers(
    client, five_pages, settings
):
    tenant, _ = five_pages
    # A worker claimed a refresh and died while writing: its transaction never committed,
    # so only the run row is left, and its heartbeat stopped.
    dead, _ = sync_claim(tenant=tenant, trigger="killed worker")
    SyncRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PNS_SYNC_HEARTBEAT_TIMEOUT + 5)
    )
    page = text_of(client.get(tenant.get_absolute_url()))
    assert "The last refresh failed" in page
    assert "stopped answering" in page
    assert "4,500 groups" in page

    recovered = sync_tenant(tenant)
    assert recovered.status == SyncRun.Status.OK and recovered != dead
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
