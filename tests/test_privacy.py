"""Phone numbers are personal data: masked in pages and exports unless the user holds
view_full_numbers, who reveals them one at a time (or a group at a time), each time audited."""

import csv
import io
import re
import time
from http import HTTPStatus

import pytest
from django.test import override_settings
from django.urls import reverse

from groups import privacy
from groups.models import AuditEvent
from groups.phones import calling_code_of
from groups.privacy import mask_number, mask_number_list, read_reveal_token, reveal_token
from groups.roles import GROUP_EDITORS, SUPPORT, TENANT_ADMINS
from groups.services import sync_tenant
from tests.conftest import create_tenant, create_user, ensure_roles

GROUP_A = "b8c2aaf940d534d3c9ed8b780757f94e"
TOKEN = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture
def synced(sim_tenant):
    assert sync_tenant(sim_tenant).status == "ok"
    return sim_tenant


@pytest.fixture
def support(client, synced):
    user = create_user("helper", roles=[SUPPORT], tenants=[synced])
    client.force_login(user)
    return user


@pytest.fixture
def revealer(client, synced):
    user = create_user("lead", perms=["groups.view_full_numbers"], tenants=[synced])
    client.force_login(user)
    return user


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body, newline="")))


# --- how a number is masked -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "shown", "masked"),
    [
        ("85235753351", "+852 3575 3351", "+852 35•• ••51"),  # the example
        ("85235753351", "3575 3351", "35•• ••51"),  # written nationally
        ("85235753351", None, "85235••••51"),  # bare digits, as exports hold them
        ("85235753351", "+85235753351", "+85235••••51"),  # E.164
        ("8613800138000", "+86 138 0013 8000", "+86 13• •••• ••00"),
        ("14155552671", "+1 415-555-2671", "+1 41•-•••-••71"),
        ("6591234", None, "659•••4"),  # a short national number keeps one digit each end
        ("8521234", None, "852••••"),  # too short to keep any of it
        ("abc<def>", None, "•••<•••>"),  # not a number at all
    ],
)
def test_a_masked_number_keeps_its_country_code_and_at_most_two_digits_each_end(
    digits, shown, masked
):
    assert mask_number(digits, shown) == masked


def test_at_least_half_of_every_national_number_is_hidden():
    for digits in ["85235753351", "8613800138000", "6591234", "441234567890", "12025550123"]:
        masked = mask_number(digits)
        national = len(digits) - len(str(calling_code_of(digits)))
        assert masked.count("•") >= national / 2, masked


def test_a_list_of_numbers_is_masked_number_by_number():
    assert mask_number_list("85235753351,8613800138000,") == "85235••••51,8613•••••••00"


# --- pages ------------------------------------------------------------------------------------


def test_a_user_without_the_permission_sees_masked_numbers_and_no_way_to_reveal_them(
    client, support
):
    html = client.get(reverse("group_detail", args=["sim", GROUP_A])).content.decode()
    assert "+852 35•• ••51" in html and "+852 11••••14" in html
    for digits in ["85235753351", "3575 3351", "85211111114"]:
        assert digits not in html
    assert 'id="reveal-form"' not in html and "Show all" not in html
    assert not TOKEN.search(html)


def test_without_the_permission_revealing_is_refused(client, support, synced):
    token = reveal_token(synced.pk, "85235753351")
    assert client.post(reverse("reveal_number"), {"token": token}).status_code == 403
    response = client.post(reverse("group_reveal", args=["sim", GROUP_A]))
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.NUMBER_REVEALED).exists()


def test_a_holder_sees_masked_numbers_with_a_show_button_whose_token_holds_no_digits(
    client, revealer
):
    html = client.get(reverse("group_detail", args=["sim", GROUP_A])).content.decode()
    assert "+852 35•• ••51" in html and "85235753351" not in html
    assert 'id="reveal-form"' in html
    tokens = TOKEN.findall(html)
    assert len(tokens) == 3
    assert {read_reveal_token(token)[1] for token in tokens} == {
        "85211111114",
        "85235753351",
        "85235753311",
    }


def test_revealing_one_number_shows_it_and_writes_the_audit_log(client, revealer, synced):
    html = client.get(reverse("group_detail", args=["sim", GROUP_A])).content.decode()
    token = next(t for t in TOKEN.findall(html) if read_reveal_token(t)[1] == "85235753351")
    back = reverse("group_detail", args=["sim", GROUP_A])

    response = client.post(reverse("reveal_number"), {"token": token, "next": back})
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "+852 3575 3351" in page and "85235753351" in page and f'href="{back}"' in page

    as_json = client.post(
        reverse("reveal_number"), {"token": token}, headers={"accept": "application/json"}
    )
    assert as_json.json() == {"number": "+852 3575 3351", "digits": "85235753351"}

    events = AuditEvent.objects.filter(action=AuditEvent.Action.NUMBER_REVEALED)
    assert [(e.username, e.tenant_id, e.details) for e in events] == [
        ("lead", synced.pk, {"number": "85235753351"}),
        ("lead", synced.pk, {"number": "85235753351"}),
    ]


def test_showing_a_whole_group_is_one_audit_event(client, revealer):
    response = client.post(reverse("group_reveal", args=["sim", GROUP_A]))
    html = response.content.decode()
    assert "+852 3575 3351" in html and "85211111114" in html
    assert "Full numbers shown" in html
    event = AuditEvent.objects.get(action=AuditEvent.Action.NUMBER_REVEALED)
    assert event.details == {"group_id": GROUP_A, "numbers": 3}
    assert client.get(reverse("group_reveal", args=["sim", GROUP_A])).status_code == 405


def test_a_token_for_a_tenant_the_user_cannot_see_reveals_nothing(client, revealer):
    other = create_tenant("other", name="Other")
    response = client.post(reverse("reveal_number"), {"token": reveal_token(other.pk, "1234")})
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.NUMBER_REVEALED).exists()


@pytest.mark.parametrize("token", ["", "garbage", "A" * 80, "€"])
def test_a_damaged_token_is_a_clear_400(client, revealer, token):
    response = client.post(reverse("reveal_number"), {"token": token})
    assert response.status_code == 400
    assert "Reload the page and try again" in response.content.decode()
    as_json = client.post(
        reverse("reveal_number"), {"token": token}, headers={"accept": "application/json"}
    )
    assert as_json.status_code == 400 and "Reload the page" in as_json.json()["error"]


def test_a_token_from_a_page_older_than_twelve_hours_is_refused(
    client, revealer, synced, monkeypatch
):
    token = reveal_token(synced.pk, "85235753351")
    later = time.time() + privacy.REVEAL_TOKEN_MAX_AGE + 60
    monkeypatch.setattr(privacy.time, "time", lambda: later)
    assert client.post(reverse("reveal_number"), {"token": token}).status_code == 400


def test_a_token_made_with_another_secret_key_is_refused(client, revealer, synced):
    with override_settings(SECRET_KEY="another secret key, long enough: 0123456789abcdef"):
        token = reveal_token(synced.pk, "85235753351")
    assert client.post(reverse("reveal_number"), {"token": token}).status_code == 400


def test_the_changes_page_masks_numbers_too(client, support, synced, account):
    account.groups[GROUP_A].phones.append("85291234567")
    sync_tenant(synced)
    html = client.get(reverse("group_changes", args=["sim"])).content.decode()
    assert "+852 91•• ••67" in html and "85291234567" not in html


# --- search -----------------------------------------------------------------------------------


def test_search_finds_a_typed_number_and_shows_it_as_typed(client, support):
    response = client.get(reverse("search"), {"q": "+852 3575 3351"})
    html = response.content.decode()
    assert [m.group.group_id for m in response.context["results"].found[0].matches] == [GROUP_A]
    assert "+852 3575 3351" in html  # the user typed it: masking hides nothing


def test_search_masks_numbers_found_from_a_part_of_them(client, support):
    response = client.get(reverse("search"), {"q": "3351"})
    html = response.content.decode()
    assert len(response.context["results"].found[0].matches) == 1
    assert "+852 35•• ••51" in html and "85235753351" not in html


# --- exports ----------------------------------------------------------------------------------


def test_exports_of_a_user_without_the_permission_hold_masked_numbers(client, support):
    groups = csv_rows(client.get(reverse("groups_export", args=["sim", "csv"])))
    row = next(r for r in groups if r[1] == GROUP_A)
    assert row[6] == "85211••••14,85235••••51,85235••••11"

    numbers = csv_rows(client.get(reverse("numbers_export", args=["sim", "csv"])))
    assert ["Sim", GROUP_A, "groupA", "85235••••51", "+85235••••51", "HK"] in numbers
    assert not any("85235753351" in cell for row in numbers for cell in row)

    search = csv_rows(
        client.get(reverse("search_export", args=["csv"]), {"q": "3351\n8613800138000"})
    )
    assert search[1][5:7] == ["85235••••51", "+85235••••51"]  # found from a part: masked
    assert search[2][5:7] == ["8613800138000", "+8613800138000"]  # typed in full: as typed

    event = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).first()
    assert event.details["full_numbers"] is False


def test_masked_numbers_stay_text_in_an_xlsx_export(client, support):
    from openpyxl import load_workbook

    response = client.get(reverse("numbers_export", args=["sim", "xlsx"]))
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [cell.value for cell in sheet["D"]][1:]
    assert "85235••••51" in values and all("•" in v for v in values)


# --- roles --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tenant_admins_see_full_numbers_and_support_and_editors_do_not():
    ensure_roles()
    admin = create_user("admin", roles=[TENANT_ADMINS])
    helper = create_user("helper", roles=[SUPPORT])
    editor = create_user("editor", roles=[GROUP_EDITORS])
    assert admin.has_perm("groups.view_full_numbers")
    assert not helper.has_perm("groups.view_full_numbers")
    assert not editor.has_perm("groups.view_full_numbers")


def test_an_editor_sees_the_numbers_they_typed_and_not_the_ones_only_the_group_held(client, synced):
    editor = create_user("editor", roles=[GROUP_EDITORS], tenants=[synced])
    client.force_login(editor)
    url = reverse("group_numbers", args=["sim", GROUP_A])
    response = client.post(url, {"operation": "replace", "numbers": "+852 9123 4567"})
    html = response.content.decode()
    assert "+852 9123 4567" in html  # to add: typed
    assert "+852 35•• ••51" in html and "85235753351" not in html  # to remove: masked
    hidden = re.search(r'name="numbers" value="([^"]*)"', html).group(1)
    assert hidden == "85291234567"


def test_a_big_group_is_shown_masked_a_page_at_a_time_and_in_full_all_at_once(
    client, revealer, synced, account
):
    account.groups[GROUP_A].phones[:] = [f"8525{n:07d}" for n in range(1200)]
    assert sync_tenant(synced).status == "ok"
    url = reverse("group_detail", args=["sim", GROUP_A])

    def number_table(page: str) -> str:
        return page.split('id="history-heading"')[0]  # the history has Show buttons too

    first = client.get(url).content.decode()
    assert len(TOKEN.findall(number_table(first))) == 500 and "Page 1 of 3" in first
    last = client.get(url, {"page": 3}).content.decode()
    assert len(TOKEN.findall(number_table(last))) == 200
    assert '<td class="num muted">1001</td>' in last and '<td class="num muted">1200</td>' in last
    assert client.get(url, {"page": 4}).status_code == 404

    everything = client.post(reverse("group_reveal", args=["sim", GROUP_A])).content.decode()
    assert everything.count('<td class="phone">') == 1200 and "Page 1 of" not in everything
    assert "Show all 1200 numbers" in first
