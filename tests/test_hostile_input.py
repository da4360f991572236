"""Whatever arrives in a URL or a form: never a server error, and oversize input is refused
with a message. Property-based: hypothesis invents the input."""

import csv
import io
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from groups.models import Tenant
from groups.roles import SUPPORT
from groups.services import sync_tenant
from groups.simulator import SimGroup
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, create_tenant, create_user

# Text as people and attackers type it: any unicode, control characters, SQL and HTML bits.
anything = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["' OR 1=1 --", "<script>alert(1)</script>", "%00", "\x00", "../../etc"]),
    st.integers().map(str),
)
fuzz = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def superuser_client(db, client):
    client.force_login(create_user("root", superuser=True))
    return client


@pytest.fixture
def logged_in(db, client, simulator, account):
    tenant = create_tenant(
        "sim", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url, name="Sim"
    )
    sync_tenant(tenant)
    client.force_login(create_user("helper", roles=[SUPPORT], tenants=[tenant]))
    return client


def assert_not_a_server_error(response):
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, response.status_code


@fuzz
@given(q=anything, sort=anything, page=anything, per_page=anything)
def test_the_group_list_and_its_downloads_never_fail(logged_in, q, sort, page, per_page):
    params = {"q": q, "sort": sort, "page": page, "per_page": per_page}
    assert_not_a_server_error(logged_in.get("/t/sim/", params))
    assert_not_a_server_error(logged_in.get("/t/sim/groups.csv", params))
    assert_not_a_server_error(logged_in.get("/t/sim/numbers.csv", params))


@fuzz
@given(q=anything, anywhere=anything)
def test_search_and_its_download_never_fail(logged_in, q, anywhere):
    params = {"q": q, "anywhere": anywhere}
    assert_not_a_server_error(logged_in.get("/search/", params))
    assert_not_a_server_error(logged_in.get("/search.csv", params))


@fuzz
@given(group_id=st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s), page=anything)
@example(group_id="\x00", page="")  # found by hypothesis: PostgreSQL refused it (a 500)
def test_group_and_history_pages_never_fail(logged_in, group_id, page):
    assert_not_a_server_error(logged_in.get(f"/t/sim/groups/{group_id}/"))
    assert_not_a_server_error(logged_in.get("/t/sim/syncs/", {"page": page}))


def test_oversize_input_is_refused_with_a_message(logged_in):
    too_long = "9" * 70_000
    search = logged_in.get("/search/", {"q": too_long})
    assert b"That is more text than 1,000 numbers take. Nothing was searched." in search.content
    listing = logged_in.get("/t/sim/", {"q": "x" * 500})
    assert listing.status_code == HTTPStatus.OK
    assert b"Ensure this value has at most 200 characters" in listing.content


@fuzz
@given(
    name=anything,
    slug=anything,
    api_url=anything,
    access_key=anything,
    secret=anything,
    region=anything,
)
def test_the_tenant_admin_form_never_fails(
    superuser_client, name, slug, api_url, access_key, secret, region
):
    response = superuser_client.post(
        reverse("admin:groups_tenant_add"),
        {
            "name": name,
            "slug": slug,
            "default_region": region,
            "api_url": api_url,
            "access_key": access_key,
            "access_secret": secret,
            "algorithm": "md5",
            "notes": name,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert_not_a_server_error(response)


@pytest.fixture
def tenant_admin_client(db, client):
    from groups.roles import TENANT_ADMINS

    client.force_login(create_user("keeper", roles=[TENANT_ADMINS], staff=True))
    return client


@pytest.fixture
def someone(db):
    """The user the admin forms below edit (hypothesis reuses it across examples)."""
    return create_user("someone")


@fuzz
@given(username=anything, password1=anything, password2=anything, usable=anything)
def test_the_user_add_form_never_fails(tenant_admin_client, username, password1, password2, usable):
    response = tenant_admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": username,
            "usable_password": usable,
            "password1": password1,
            "password2": password2,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert_not_a_server_error(response)


@fuzz
@given(
    username=anything,
    email=anything,
    first_name=anything,
    role=anything,
    tenant=anything,
    total_forms=anything,
    is_superuser=anything,
)
@example(  # was a 500 on SQLite: OverflowError in the roles field's lookup
    username="someone",
    email="",
    first_name="",
    role="9223372036854775808",
    tenant="",
    total_forms="0",
    is_superuser="",
)
def test_the_user_change_form_never_fails(
    tenant_admin_client,
    someone,
    username,
    email,
    first_name,
    role,
    tenant,
    total_forms,
    is_superuser,
):
    response = tenant_admin_client.post(
        reverse("admin:auth_user_change", args=[someone.pk]),
        {
            "username": username,
            "email": email,
            "first_name": first_name,
            "last_name": first_name,
            "is_active": "on",
            "is_superuser": is_superuser,
            "groups": role,
            "memberships-TOTAL_FORMS": total_forms,
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-tenant": tenant,
        },
    )
    assert_not_a_server_error(response)
    someone.refresh_from_db()
    assert not someone.is_superuser  # a tenant admin cannot make one, whatever is posted


@fuzz
@given(password1=anything, password2=anything)
def test_the_admin_password_form_never_fails(tenant_admin_client, someone, password1, password2):
    response = tenant_admin_client.post(
        reverse("admin:auth_user_password_change", args=[someone.pk]),
        {"password1": password1, "password2": password2, "usable_password": "true"},
    )
    assert_not_a_server_error(response)


@fuzz
@given(q=anything, action=anything, date=anything, order=anything, page=anything)
@example(q="", action="", date="2147483648", order="", page="")  # was a 500: a year past 9999
def test_admin_lists_and_the_audit_download_never_fail(
    superuser_client, q, action, date, order, page
):
    params = {"q": q, "o": order, "p": page}
    for url in (reverse("admin:auth_user_changelist"), reverse("admin:groups_tenant_changelist")):
        assert_not_a_server_error(superuser_client.get(url, params))
    audit = {**params, "action__exact": action, "at__gte": date, "at__year": date}
    assert_not_a_server_error(
        superuser_client.get(reverse("admin:groups_auditevent_changelist"), audit)
    )
    assert_not_a_server_error(
        superuser_client.get(reverse("admin:groups_auditevent_export"), audit)
    )


@fuzz
@given(username=anything, password=anything)
def test_the_login_form_never_fails(db, username, password):
    from django.test import Client

    response = Client().post("/accounts/login/", {"username": username, "password": password})
    assert_not_a_server_error(response)


# --- hostile data from NXCloud itself ---------------------------------------------------------

HOSTILE_REMARK = (
    "=cmd|' /C calc'!A0 \"quoted\" 'single' <img src=x onerror=alert(1)> 中文 ü \u202eevil\n" * 200
)[:10_000]
HOSTILE_GROUP = SimGroup(
    "h" * 32,
    '<script>alert("name")</script>',
    "+cus'\"",
    HOSTILE_REMARK,
    ["85235753351", "6591234567"],
)


@pytest.fixture
def hostile(logged_in, account):
    account.groups[HOSTILE_GROUP.group_id] = HOSTILE_GROUP
    tenant = Tenant.objects.get(slug="sim")
    assert sync_tenant(tenant).status == "ok"
    return logged_in


def test_hostile_text_from_nxcloud_renders_escaped_everywhere(hostile):
    group_url = reverse("group_detail", args=["sim", HOSTILE_GROUP.group_id])
    pages = {
        "group list": hostile.get("/t/sim/").content.decode(),
        "group page": hostile.get(group_url).content.decode(),
        "search": hostile.get("/search/", {"q": "6591234567"}).content.decode(),
    }
    for where, page in pages.items():
        assert "<script>alert" not in page, where
        assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page, where
        assert "<img src=x" not in page, where
    # The group page shows all 10,000 characters, escaped; the list shows the start.
    escaped_remark = escape(HOSTILE_REMARK).replace("\n", "<br>")
    assert escaped_remark.removesuffix("<br>") in pages["group page"]
    assert escape(HOSTILE_REMARK[:60]) in pages["group list"]
    assert escape(HOSTILE_REMARK[:5_000]) not in pages["group list"]


def test_hostile_text_from_nxcloud_is_neutralised_in_downloads(hostile):
    response = hostile.get("/t/sim/groups.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    row = next(row for row in rows if row[1] == HOSTILE_GROUP.group_id)
    assert row[2] == HOSTILE_GROUP.name  # "<" starts no formula: left as it is
    assert row[3] == "'" + HOSTILE_GROUP.customer_id
    assert row[4] == "'" + HOSTILE_REMARK  # all 10,000 characters, newlines included

    response = hostile.get("/t/sim/groups.xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cells = next(row for row in sheet.iter_rows() if row[1].value == HOSTILE_GROUP.group_id)
    assert cells[4].value == HOSTILE_REMARK and cells[4].data_type == "s"
    assert cells[3].value == HOSTILE_GROUP.customer_id and cells[3].data_type == "s"


# --- the forms that change groups in NXCloud, and the two-factor code -------------------------


@pytest.fixture
def editor_client(logged_in, db):
    from groups.roles import GROUP_EDITORS

    tenant = Tenant.objects.get(slug="sim")
    logged_in.force_login(create_user("editor", roles=[GROUP_EDITORS], tenants=[tenant]))
    return logged_in


@fuzz
@given(name=anything, remark=anything, numbers=anything, operation=anything, confirm=anything)
def test_the_group_change_forms_never_fail(
    editor_client, name, remark, numbers, operation, confirm
):
    create = {"name": name, "remark": remark, "numbers": numbers}
    change = {"operation": operation, "numbers": numbers}
    for url, data in (
        (reverse("group_create", args=["sim"]), create),
        (reverse("group_numbers", args=["sim", "b8c2aaf940d534d3c9ed8b780757f94e"]), change),
    ):
        assert_not_a_server_error(editor_client.post(url, data))  # preview
        assert_not_a_server_error(editor_client.post(url, {**data, "confirm": confirm}))


@fuzz
@given(token=anything, next_url=anything)
def test_the_two_factor_forms_never_fail(superuser_client, token, next_url):
    for name in ("two_factor_verify", "two_factor_setup"):
        response = superuser_client.post(reverse(name), {"token": token, "next": next_url})
        assert_not_a_server_error(response)
