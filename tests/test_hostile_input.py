"""Whatever arrives in a URL or a form: never a server error, and oversize input is refused
with a message. Property-based: hypothesis invents the input."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from groups.roles import SUPPORT
from groups.services import sync_tenant
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
