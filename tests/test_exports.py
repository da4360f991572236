"""Downloads: exactly what the page shows, streamed, and safe to open in a spreadsheet."""

import csv
import io
import re
from http import HTTPStatus

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from groups.models import AuditEvent, NumberGroup, PhoneNumber
from groups.roles import SUPPORT
from groups.services import sync_tenant
from groups.simulator import SimGroup
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, create_tenant, create_user

HOSTILE = SimGroup(
    "9" * 32,
    '=HYPERLINK("http://evil.invalid","x")',
    "@cus",
    '-2+3\nsecond line, with comma and "quotes"',
    ["85235753351", "6591234567"],
)


@pytest.fixture
def tenant(db, simulator, account):
    account.groups[HOSTILE.group_id] = HOSTILE
    tenant = create_tenant(
        "sim", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url, name="Sim"
    )
    assert sync_tenant(tenant).status == "ok"
    return tenant


@pytest.fixture
def exporter(client, tenant):
    # Exports of full numbers; tests/test_privacy.py covers the masked ones.
    user = create_user(
        "analyst", roles=[SUPPORT], perms=["groups.view_full_numbers"], tenants=[tenant]
    )
    client.force_login(user)
    return user


def download(client, url, params=None):
    response = client.get(url, params or {})
    assert response.status_code == HTTPStatus.OK, response.content[:300]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def test_groups_csv_round_trips_every_group_with_its_columns(client, exporter, tenant):
    response, body = download(client, reverse("groups_export", args=["sim", "csv"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="pns-sim-groups-\d{8}-\d{4}\.csv"',
        response["Content-Disposition"],
    )
    rows = rows_of(body)
    assert rows[0] == [
        "tenant", "group_id", "group_name", "customer_id", "remark", "phone_count", "phones",
        "synced_at",
    ]  # fmt: skip
    snapshot = tenant.current_snapshot
    stored = NumberGroup.objects.filter(snapshot=snapshot).order_by("position")
    assert [row[1] for row in rows[1:]] == [g.group_id for g in stored]
    first = rows[1]
    assert first[:7] == [
        "Sim",
        "b8c2aaf940d534d3c9ed8b780757f94e",
        "groupA",
        "cus_1",
        "Number Group A",
        "3",
        "85211111114,85235753351,85235753311",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", first[7])


def test_free_text_is_neutralised_and_phones_are_written_exactly(client, exporter, tenant):
    _, body = download(client, reverse("groups_export", args=["sim", "csv"]))
    hostile = rows_of(body)[-1]
    assert hostile[2] == "'" + HOSTILE.name
    assert hostile[3] == "'@cus"
    assert hostile[4] == "'" + HOSTILE.remark  # newline, comma and quotes survive
    assert hostile[6] == "85235753351,6591234567"

    _, body = download(client, reverse("numbers_export", args=["sim", "csv"]))
    numbers = [row for row in rows_of(body) if row[1] == HOSTILE.group_id]
    assert numbers == [
        ["Sim", HOSTILE.group_id, "'" + HOSTILE.name, "85235753351", "+85235753351", "HK"],
        ["Sim", HOSTILE.group_id, "'" + HOSTILE.name, "6591234567", "+6591234567", "SG"],
    ]


def test_the_list_filter_and_sort_carry_over(client, exporter, tenant):
    url = reverse("groups_export", args=["sim", "csv"])
    _, body = download(client, url, {"q": "3575 3351", "sort": "-count", "page": "2"})
    assert [row[1] for row in rows_of(body)[1:]] == [
        "b8c2aaf940d534d3c9ed8b780757f94e",
        HOSTILE.group_id,
    ]
    _, body = download(client, url, {"sort": "name"})
    names = [row[2].lstrip("'") for row in rows_of(body)[1:]]
    assert names == sorted(names)


def test_numbers_csv_holds_every_number_of_the_listed_groups(client, exporter, tenant):
    _, body = download(client, reverse("numbers_export", args=["sim", "csv"]))
    rows = rows_of(body)
    assert rows[0] == ["tenant", "group_id", "group_name", "phone", "phone_e164", "region"]
    stored = PhoneNumber.objects.filter(snapshot=tenant.current_snapshot)
    assert sorted(row[3] for row in rows[1:]) == sorted(n.digits for n in stored)
    assert sorted((row[1], row[3], row[4], row[5]) for row in rows[1:]) == sorted(
        (n.group.group_id, n.digits, n.e164, n.region) for n in stored
    )
    # NXCloud's order within a group.
    assert [row[3] for row in rows[1:4]] == ["85211111114", "85235753351", "85235753311"]

    _, body = download(client, reverse("numbers_export", args=["sim", "csv"]), {"q": "Ops"})
    assert [row[3] for row in rows_of(body)[1:]] == ["447911123456"]


def test_a_group_numbers_csv(client, exporter, tenant):
    url = reverse("group_numbers_export", args=["sim", "b8c2aaf940d534d3c9ed8b780757f94e", "csv"])
    response, body = download(client, url)
    assert (
        "pns-sim-group-b8c2aaf940d534d3c9ed8b780757f94e-numbers-" in response["Content-Disposition"]
    )
    assert [row[3] for row in rows_of(body)[1:]] == ["85211111114", "85235753351", "85235753311"]
    missing = reverse("group_numbers_export", args=["sim", "nope", "csv"])
    assert client.get(missing).status_code == HTTPStatus.NOT_FOUND


def test_search_csv_lists_matches_then_misses(client, exporter, tenant):
    url = reverse("search_export", args=["csv"])
    response, body = download(client, url, {"q": "+852 3575 3351\n7654321\n=1+1"})
    assert re.search(r'filename="pns-search-\d{8}-\d{4}\.csv"', response["Content-Disposition"])
    rows = rows_of(body)
    assert rows[0] == [
        "query", "match_kind", "tenant", "group_id", "group_name", "phone", "phone_e164",
        "region",
    ]  # fmt: skip
    # The query is free text too: a leading + is neutralised there, never in phone columns.
    assert rows[1:] == [
        ["'+852 3575 3351", "exact", "Sim", HOSTILE.group_id, "'" + HOSTILE.name,
         "85235753351", "+85235753351", "HK"],
        ["'+852 3575 3351", "exact", "Sim", "b8c2aaf940d534d3c9ed8b780757f94e", "groupA",
         "85235753351", "+85235753351", "HK"],
        ["7654321", "not_found", "", "", "", "", "", ""],
        ["'=1+1", "not_understood", "", "", "", "", "", ""],
    ]  # fmt: skip


def test_search_csv_refuses_bad_input_with_a_message(client, exporter):
    response = client.get(reverse("search_export", args=["csv"]), {"q": "1\n" * 1001})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"At most 1,000 numbers at a time" in response.content


def test_syncs_csv(client, exporter, tenant, simulator):
    simulator.inject("error_code", code=1005, times=None)
    sync_tenant(tenant)
    _, body = download(client, reverse("syncs_export", args=["sim", "csv"]))
    rows = rows_of(body)
    assert rows[0][:3] == ["start", "end", "status"]
    assert [row[2] for row in rows[1:]] == ["failed", "ok"]
    assert rows[1][9] == "1005"
    assert rows[1][10].startswith("NXCloud error 1005")
    assert rows[1][11] == simulator.calls[-1].request_id
    assert rows[2][3:5] == ["4", "7"]


def test_the_byte_order_mark_comes_only_with_the_excel_option(client, exporter, tenant):
    url = reverse("groups_export", args=["sim", "csv"])
    _, plain = download(client, url)
    _, excel = download(client, url, {"excel": "1"})
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert excel.startswith(b"\xef\xbb\xbf")
    assert excel[3:] == plain


def test_xlsx_keeps_phones_as_text_and_never_makes_formulas(client, exporter, tenant):
    response, body = download(client, reverse("numbers_export", args=["sim", "xlsx"]))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(body)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("tenant", "group_id", "group_name", "phone", "phone_e164", "region")
    hostile = [row for row in rows if row[1] == HOSTILE.group_id]
    assert hostile[0] == (
        "Sim",
        HOSTILE.group_id,
        HOSTILE.name,
        "85235753351",
        "+85235753351",
        "HK",
    )
    cells = next(row for row in sheet.iter_rows() if row[1].value == HOSTILE.group_id)
    assert cells[2].data_type == "s"  # text, not a formula
    assert cells[3].data_type == "s"  # 85235753351 stays text


def test_downloads_are_streamed(client, exporter, tenant):
    response = client.get(reverse("numbers_export", args=["sim", "csv"]))
    assert response.streaming


def test_each_download_is_audited_with_its_url_and_row_count(client, exporter, tenant):
    download(client, reverse("numbers_export", args=["sim", "csv"]), {"q": "group"})
    event = AuditEvent.objects.get(action="export")
    assert event.user == exporter
    assert event.tenant == tenant
    assert event.details == {
        "url": "/t/sim/numbers.csv?q=group",
        "format": "csv",
        "rows": 3,
        "complete": True,
        "full_numbers": True,
    }


def test_without_the_export_permission_links_are_hidden_and_urls_are_403(client, tenant):
    viewer = create_user("viewer", tenants=[tenant])
    client.force_login(viewer)
    page = client.get(tenant.get_absolute_url()).content.decode()
    assert "groups.csv" not in page
    for url in (
        reverse("groups_export", args=["sim", "csv"]),
        reverse("numbers_export", args=["sim", "xlsx"]),
        reverse("syncs_export", args=["sim", "csv"]),
        reverse("search_export", args=["csv"]) + "?q=3351",
    ):
        assert client.get(url).status_code == HTTPStatus.FORBIDDEN, url


def test_hidden_tenants_are_404_and_absent_from_search_downloads(client, exporter, tenant, db):
    other = create_tenant("other", name="Other")
    assert client.get(reverse("groups_export", args=["other", "csv"])).status_code == 404
    assert other.slug not in client.get(tenant.get_absolute_url()).content.decode()
    _, body = download(client, reverse("search_export", args=["csv"]), {"q": "3351"})
    assert {row[2] for row in rows_of(body)[1:]} == {"Sim"}


def test_links_on_the_pages_point_at_the_downloads(client, exporter, tenant):
    page = client.get(tenant.get_absolute_url(), {"q": "group", "page": "1"}).content.decode()
    assert 'href="/t/sim/groups.csv?q=group"' in page
    assert 'href="/t/sim/numbers.xlsx?q=group"' in page
    assert 'href="/t/sim/groups.csv?q=group&amp;excel=1"' in page
