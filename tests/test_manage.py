"""Managing groups from the dashboard: create, add, remove, replace and delete, each through
a confirmation page, against the simulator (NXCloud's refusals included)."""

import html
import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from groups.models import AuditEvent, GroupChange, NumberGroup, PhoneNumber
from groups.roles import GROUP_EDITORS, SUPPORT
from groups.services import sync_tenant
from tests.conftest import create_user

GROUP_A = "b8c2aaf940d534d3c9ed8b780757f94e"


@pytest.fixture
def editor(client, sim_tenant):
    assert sync_tenant(sim_tenant).status == "ok"
    user = create_user("editor", roles=[SUPPORT, GROUP_EDITORS], tenants=[sim_tenant])
    client.force_login(user)
    return user


def page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def current_group(tenant, group_id):
    tenant.refresh_from_db()
    return NumberGroup.objects.get(snapshot=tenant.current_snapshot, group_id=group_id)


def test_creating_a_group_shows_what_goes_where_then_creates_it(
    client, editor, sim_tenant, account
):
    url = reverse("group_create", args=["sim"])
    form = {"name": "Night shift", "remark": "from the dashboard",
            "numbers": "+852 9123 4567\n+65 9123 4567, 0085291234567"}  # fmt: skip
    preview = client.post(url, form)
    text = page_text(preview)
    assert "Confirm: new group" in text
    assert "NXCloud account Sim (access key" in text
    assert "Added 2 numbers" in text and "Removed 0 numbers" in text
    assert len(account.groups) == 3  # nothing sent yet

    done = client.post(url, {**form, "numbers": "85291234567,6591234567", "confirm": "1"})
    created = next(g for g in account.groups.values() if g.name == "Night shift")
    assert created.phones == ["85291234567", "6591234567"]
    assert done.status_code == HTTPStatus.FOUND
    assert done["Location"] == reverse("group_detail", args=["sim", created.group_id])
    group = current_group(sim_tenant, created.group_id)
    assert (group.phone_count, group.remark) == (2, "from the dashboard")
    assert PhoneNumber.objects.filter(group=group).count() == 2
    assert sim_tenant.current_snapshot.group_count == 4
    event = AuditEvent.objects.get(action="group_created")
    assert event.details["request_id"] and event.details["numbers"] == 2
    kinds = set(
        GroupChange.objects.filter(group_id=created.group_id).values_list("kind", flat=True)
    )
    assert kinds == {"group_added", "number_added"}
    # The next refresh finds nothing new: the snapshot already has the change.
    before = GroupChange.objects.count()
    sync_tenant(sim_tenant)
    assert GroupChange.objects.count() == before


def test_every_bad_number_is_named_and_nothing_is_sent(client, editor, account):
    response = client.post(
        reverse("group_create", args=["sim"]),
        {"name": "x", "numbers": "3575 3351\n+1 555\n+852 9123 4567\nabc"},
    )
    text = page_text(response)
    assert "“3575 3351” is not a valid +357 number." in text
    assert "“+1 555” is not a valid +1 number." in text
    assert "“abc” has characters a phone number cannot have." in text
    assert len(account.groups) == 3


@pytest.mark.parametrize(
    ("operation", "numbers", "added", "removed", "after"),
    [
        ("add", "+852 9123 4567\n+852 3575 3351", ["85291234567"], [], 4),
        ("remove", "+852 3575 3351", [], ["85235753351"], 2),
        ("replace", "+852 3575 3351\n+852 9123 4567", ["85291234567"],
         ["85211111114", "85235753311"], 2),
    ],
)  # fmt: skip
def test_changing_numbers_previews_then_updates_nxcloud_and_the_snapshot(
    client, editor, sim_tenant, account, operation, numbers, added, removed, after
):
    url = reverse("group_numbers", args=["sim", GROUP_A])
    preview = page_text(client.post(url, {"operation": operation, "numbers": numbers}))
    assert f"Added {len(added)} number" in preview and f"Removed {len(removed)} number" in preview
    assert f"Numbers after {after}" in preview

    client.post(url, {"operation": operation, "numbers": numbers, "confirm": "1"})
    group = current_group(sim_tenant, GROUP_A)
    assert sorted(account.groups[GROUP_A].phones) == sorted(group.phones_text.split(","))
    assert group.phone_count == after
    assert sorted(PhoneNumber.objects.filter(group=group).values_list("digits", flat=True)) == (
        sorted(group.phones_text.split(","))
    )
    history = GroupChange.objects.filter(group_id=GROUP_A)
    assert sorted(history.filter(kind="number_added").values_list("digits", flat=True)) == added
    assert sorted(history.filter(kind="number_removed").values_list("digits", flat=True)) == (
        sorted(removed)
    )
    event = AuditEvent.objects.get(action="group_numbers_changed")
    assert (
        event.details["operation"]
        == {"add": "add", "remove": "delete", "replace": "replace"}[operation]
    )


def test_deleting_a_group_asks_first_then_deletes_it(client, editor, sim_tenant, account):
    url = reverse("group_delete", args=["sim", GROUP_A])
    confirm = page_text(client.get(url))
    assert "Delete this group?" in confirm and "Removed 3 numbers, and the group itself" in confirm
    response = client.post(url)
    assert response["Location"] == reverse("tenant_detail", args=["sim"])
    assert GROUP_A not in account.groups
    sim_tenant.refresh_from_db()
    assert not NumberGroup.objects.filter(snapshot=sim_tenant.current_snapshot, group_id=GROUP_A)
    assert not PhoneNumber.objects.filter(
        snapshot=sim_tenant.current_snapshot, digits="85211111114"
    )
    assert AuditEvent.objects.get(action="group_deleted").details["numbers"] == 3
    results = client.get(reverse("search"), {"q": "+852 1111 1114"}).context["results"]
    assert [f.change.group_id for _, f in results.formerly] == [GROUP_A]


def test_when_nxcloud_refuses_nothing_changes_and_the_reason_is_shown(
    client, editor, sim_tenant, account, simulator
):
    simulator.inject("error_code", code=1002, times=None)
    url = reverse("group_numbers", args=["sim", GROUP_A])
    response = client.post(
        url, {"operation": "add", "numbers": "+852 9123 4567", "confirm": "1"}, follow=True
    )
    text = page_text(response)
    assert "NXCloud refused the change; nothing was changed." in text
    assert "Parameter error" in text and "requestId" in text
    assert current_group(sim_tenant, GROUP_A).phone_count == 3
    assert not GroupChange.objects.exists()
    assert not AuditEvent.objects.filter(action="group_numbers_changed").exists()


def test_support_without_the_permission_may_not_change_groups(client, sim_tenant):
    sync_tenant(sim_tenant)
    client.force_login(create_user("helper", roles=[SUPPORT], tenants=[sim_tenant]))
    for url in (
        reverse("group_create", args=["sim"]),
        reverse("group_numbers", args=["sim", GROUP_A]),
        reverse("group_delete", args=["sim", GROUP_A]),
    ):
        assert client.get(url).status_code == HTTPStatus.FORBIDDEN
        assert client.post(url, {"confirm": "1"}).status_code == HTTPStatus.FORBIDDEN
    page = client.get(reverse("group_detail", args=["sim", GROUP_A])).content.decode()
    assert "Change numbers" not in page and "Delete group" not in page
