"""Number history: what each refresh changed in a tenant's groups."""

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from groups.models import GroupChange
from groups.roles import SUPPORT
from groups.services import sync_tenant
from groups.simulator import SimGroup
from tests.conftest import create_user

Kind = GroupChange.Kind
GROUP_A = "b8c2aaf940d534d3c9ed8b780757f94e"
GROUP_CN = "0f3c5d1e2b4a69788796a5b4c3d2e1f0"
GROUP_OPS = "11112222333344445555666677778888"


@pytest.fixture
def changed(sim_tenant, account):
    """Two refreshes with every kind of change between them."""
    assert sync_tenant(sim_tenant).status == "ok"
    groups = account.groups
    groups[GROUP_A].name = "groupA renamed"
    groups[GROUP_A].phones = ["85211111114", "85235753351", "85291234567"]  # -…311, +…001
    groups[GROUP_CN].remark = "new remark"
    del groups[GROUP_OPS]
    groups["n" * 32] = SimGroup("n" * 32, "New group", "", "", ["6591234567"])
    second = sync_tenant(sim_tenant)
    assert second.status == "ok"
    return second


def changes_of(tenant):
    return sorted(
        (c.kind, c.group_id[:4], c.digits, c.old_value, c.new_value)
        for c in GroupChange.objects.filter(tenant=tenant)
    )


def test_the_first_refresh_records_no_history(sim_tenant):
    sync_tenant(sim_tenant)
    assert changes_of(sim_tenant) == []


def test_a_refresh_records_every_change_since_the_snapshot_before(sim_tenant, changed):
    assert changes_of(sim_tenant) == sorted(
        [
            (Kind.RENAMED, "b8c2", "", "groupA", "groupA renamed"),
            (Kind.NUMBER_ADDED, "b8c2", "85291234567", "", ""),
            (Kind.NUMBER_REMOVED, "b8c2", "85235753311", "", ""),
            (Kind.REMARK_CHANGED, "0f3c", "", 'Remark, with "quotes"', "new remark"),
            (Kind.GROUP_REMOVED, "1111", "", "", ""),
            (Kind.NUMBER_REMOVED, "1111", "447911123456", "", ""),
            (Kind.GROUP_ADDED, "nnnn", "", "", ""),
            (Kind.NUMBER_ADDED, "nnnn", "6591234567", "", ""),
        ]
    )
    rows = GroupChange.objects.filter(tenant=sim_tenant)
    assert {c.sync_run_id for c in rows} == {changed.pk}
    assert {c.at for c in rows} and all(c.at >= changed.started_at for c in rows)
    assert rows.get(kind=Kind.GROUP_REMOVED).group_name == "Ops"


def test_a_refresh_without_changes_records_nothing(sim_tenant, changed):
    before = GroupChange.objects.count()
    sync_tenant(sim_tenant)
    assert GroupChange.objects.count() == before


def test_numbers_in_a_new_order_are_not_a_change(sim_tenant, account):
    sync_tenant(sim_tenant)
    account.groups[GROUP_A].phones.reverse()
    sync_tenant(sim_tenant)
    assert changes_of(sim_tenant) == []


# --- where people see it ----------------------------------------------------------------------


@pytest.fixture
def support(client, sim_tenant):
    user = create_user("helper", roles=[SUPPORT], tenants=[sim_tenant])
    client.force_login(user)
    return user


def page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_the_group_page_shows_its_history(client, support, sim_tenant, changed):
    text = page_text(client.get(reverse("group_detail", args=["sim", GROUP_A])))
    assert "History" in text
    assert "number removed +852 35•• ••11" in text  # masked: the user may not see them
    assert "number added +852 91•• ••67" in text
    assert "renamed groupA → groupA renamed" in text
    assert "0 minutes ago" in text


def test_the_changes_page_lists_every_change_of_the_tenant(client, support, sim_tenant, changed):
    response = client.get(reverse("group_changes", args=["sim"]))
    text = page_text(response)
    assert response.context["page"].paginator.count == 8
    assert "group removed" in text and "Ops" in text
    assert "remark changed" in text and 'Remark, with "quotes" → new remark' in text
    assert 'href="/t/sim/changes/"' in client.get("/t/sim/").content.decode()


def test_changes_csv_has_one_row_per_change(client, support, sim_tenant, changed):
    response = client.get(reverse("changes_export", args=["sim", "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "tenant", "at", "change", "group_id", "group_name", "phone", "old_value", "new_value",
    ]  # fmt: skip
    assert len(rows) == 9
    # Masked, as on the page, for a user without view_full_numbers.
    removed = next(row for row in rows if row[2] == "number removed" and row[5] == "4479••••••56")
    assert removed[3:5] == [GROUP_OPS, "Ops"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", removed[1])


def test_search_tells_where_a_number_used_to_be(client, support, sim_tenant, changed):
    response = client.get(reverse("search"), {"q": "+44 7911 123456\n85235753351"})
    text = page_text(response)
    assert "No longer in these groups (1)" in text
    assert "Ops" in text and "was in this group until" in text
    formerly = response.context["results"].formerly
    assert [(entry.query.text, f.change.group_id) for entry, f in formerly] == [
        ("+44 7911 123456", GROUP_OPS)
    ]
    # 85235753351 is still in group A: a current match, not a former one.
    assert [m.group.group_id for m in response.context["results"].entries[1].matches] == [GROUP_A]


def test_a_number_back_in_its_group_is_not_shown_as_former(
    client, support, sim_tenant, changed, account
):
    account.groups[GROUP_A].phones.append("85235753311")
    sync_tenant(sim_tenant)
    results = client.get(reverse("search"), {"q": "85235753311"}).context["results"]
    assert results.formerly == []
    assert [m.group.group_id for m in results.entries[0].matches] == [GROUP_A]


def test_search_never_shows_the_history_of_a_tenant_the_user_cannot_see(
    client, sim_tenant, changed
):
    client.force_login(create_user("outsider", roles=[SUPPORT]))
    results = client.get(reverse("search"), {"q": "447911123456"}).context["results"]
    assert results.formerly == []


def test_history_older_than_the_limit_is_pruned_by_the_scheduler(sim_tenant, changed, settings):
    GroupChange.objects.filter(kind=Kind.GROUP_ADDED).update(
        at=timezone.now() - timedelta(days=settings.PNS_HISTORY_DAYS, minutes=1)
    )
    call_command("pns_scheduler", "--once", stdout=io.StringIO())
    assert not GroupChange.objects.filter(kind=Kind.GROUP_ADDED).exists()
    assert GroupChange.objects.count() == 7
