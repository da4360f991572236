"""Who may see what: every persona against every URL, and every tenant-scoped view by design."""

import re
from http import HTTPStatus

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from groups.access import visible_tenants
from groups.roles import SUPPORT, TENANT_ADMINS
from groups.urls import ExportFormat
from tests.conftest import create_tenant, create_user

OK = HTTPStatus.OK
FOUND = HTTPStatus.FOUND
FORBIDDEN = HTTPStatus.FORBIDDEN
NOT_FOUND = HTTPStatus.NOT_FOUND

PERSONAS = ["anonymous", "support_a", "support_none", "viewer_all", "tenant_admin", "superuser"]


@pytest.fixture
def world(db):
    """Tenants A, B and an inactive one; one user per persona."""
    a = create_tenant("tenant-a", name="Tenant A")
    create_tenant("tenant-b", name="Tenant B")
    create_tenant("switched-off", name="Switched off", is_active=False)
    return {
        "tenant_a": a,
        "anonymous": None,
        "support_a": create_user("support_a", roles=[SUPPORT], tenants=[a]),
        "support_none": create_user("support_none", roles=[SUPPORT]),
        "viewer_all": create_user("viewer_all", perms=["groups.view_all_tenants"]),
        "tenant_admin": create_user("tenant_admin", roles=[TENANT_ADMINS], staff=True),
        "superuser": create_user("root", superuser=True),
    }


# URL → expected status for each persona, in PERSONAS order.
MATRIX = {
    "/": [FOUND, OK, OK, OK, OK, OK],
    "/t/tenant-a/": [FOUND, OK, NOT_FOUND, OK, NOT_FOUND, OK],
    "/t/tenant-b/": [FOUND, NOT_FOUND, NOT_FOUND, OK, NOT_FOUND, OK],
    "/t/switched-off/": [FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND],
    "/t/no-such-tenant/": [FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND],
    "/accounts/password/": [FOUND, OK, OK, OK, OK, OK],
    "/search/": [FOUND, OK, OK, OK, OK, OK],
    "/search/?q=3351": [FOUND, OK, OK, OK, OK, OK],
    "/accounts/login/": [OK, FOUND, FOUND, FOUND, FOUND, FOUND],
    "/healthz": [OK, OK, OK, OK, OK, OK],
    "/readyz": [OK, OK, OK, OK, OK, OK],
    "/metrics": [NOT_FOUND] * 6,  # off without PNS_METRICS_TOKEN; a token, not a login
    "/admin/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/groups/tenant/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/groups/tenant/add/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/groups/auditevent/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/groups/auditevent/export.csv": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/auth/user/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/auth/group/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
    "/admin/auth/group/add/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK],
    "/admin/axes/accessattempt/": [FOUND, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, OK],
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("url", list(MATRIX))
def test_each_persona_gets_the_expected_status_on_each_url(client, world, url, persona):
    if world[persona] is not None:
        client.force_login(world[persona])
    expected = MATRIX[url][PERSONAS.index(persona)]
    assert client.get(url).status_code == expected


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_tenant_admin_change_page_follows_the_matrix_too(client, world, persona):
    url = reverse("admin:groups_tenant_change", args=[world["tenant_a"].pk])
    if world[persona] is not None:
        client.force_login(world[persona])
    expected = {"anonymous": FOUND, "tenant_admin": OK, "superuser": OK}.get(persona, FORBIDDEN)
    assert client.get(url).status_code == expected


def test_anonymous_visitors_are_sent_to_our_login_page_even_from_the_admin(client, world):
    response = client.get("/admin/groups/tenant/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert "registration/login.html" in [t.name for t in response.templates]


def test_the_overview_lists_exactly_the_visible_tenants(client, world):
    expected = {
        "support_a": ["tenant-a"],
        "support_none": [],
        "viewer_all": ["tenant-a", "tenant-b"],
        "tenant_admin": [],
        "superuser": ["tenant-a", "tenant-b"],
    }
    for persona, slugs in expected.items():
        client.force_login(world[persona])
        response = client.get("/")
        assert [row.tenant.slug for row in response.context["rows"]] == slugs, persona
        assert [t.slug for t in visible_tenants(world[persona])] == slugs, persona


def test_an_inactive_user_sees_nothing(world):
    user = world["support_a"]
    user.is_active = False
    user.save()
    assert not visible_tenants(user).exists()


def test_a_404_for_a_hidden_tenant_reads_the_same_as_for_a_missing_one(client, world):
    client.force_login(world["support_a"])
    hidden = client.get("/t/tenant-b/")
    missing = client.get("/t/no-such-tenant/")
    assert hidden.status_code == missing.status_code == NOT_FOUND
    assert b"Tenant B" not in hidden.content
    # Apart from the CSRF token and the page's own address (the language switch returns to it).
    varying = re.compile(rb'name="(csrf(middlewaretoken|-token)|next)" (value|content)="[^"]+"')
    assert varying.sub(b"", hidden.content) == varying.sub(b"", missing.content)


# --- a new view cannot forget the access check ----------------------------------------------

# The app's views that are not about one tenant; everything else must be tenant-scoped.
NOT_TENANT_SCOPED = {
    "home",
    "healthz",
    "readyz",
    "metrics",
    "password_change",
    "search",
    "search_export",
    "reveal_number",  # the tenant is in its encrypted token, and checked the same way
}


def app_patterns():
    for pattern in get_resolver().url_patterns:
        if (
            isinstance(pattern, URLResolver)
            and getattr(pattern.urlconf_module, "__name__", "") == "groups.urls"
        ):
            yield from (p for p in pattern.url_patterns if isinstance(p, URLPattern))


def test_every_view_of_the_app_is_either_tenant_scoped_or_known_not_to_be():
    names = set()
    for pattern in app_patterns():
        names.add(pattern.name)
        if pattern.name not in NOT_TENANT_SCOPED:
            assert getattr(pattern.callback, "tenant_scoped", False), pattern.name
            assert "slug" in pattern.pattern.converters, pattern.name
    assert names >= NOT_TENANT_SCOPED


@pytest.mark.parametrize(
    "pattern", [p for p in app_patterns() if "slug" in p.pattern.converters], ids=lambda p: p.name
)
def test_every_tenant_scoped_url_is_404_without_access_and_a_login_redirect_anonymously(
    client, world, pattern
):
    kwargs = {
        name: "csv" if isinstance(converter, ExportFormat) else "1"
        for name, converter in pattern.pattern.converters.items()
    }
    kwargs["slug"] = "tenant-b"
    url = reverse(pattern.name, kwargs=kwargs)
    assert client.get(url).status_code == FOUND
    client.force_login(world["support_a"])
    assert client.get(url).status_code == NOT_FOUND
    if set(pattern.pattern.converters) <= {"slug", "fmt"}:
        client.force_login(world["viewer_all"])
        # viewer_all sees it (may not export: 403; htmx-only parts redirect): never 404.
        assert client.get(url).status_code in {OK, FOUND, HTTPStatus.METHOD_NOT_ALLOWED, FORBIDDEN}
