"""When something goes wrong: our error pages, and error reports that keep secrets."""

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory, override_settings
from django.urls import path, reverse
from django.views.debug import SafeExceptionReporterFilter

from groups.admin import TenantAdmin
from groups.models import Tenant
from pns_admin.urls import urlpatterns as project_urls


def explode(request):
    raise RuntimeError("secret-of-the-crash")


urlpatterns = [path("explode/", explode), *project_urls]


@override_settings(ROOT_URLCONF=__name__)
def test_a_crash_is_our_500_page_without_a_traceback(client, db):
    client.raise_request_exception = False
    response = client.get("/explode/")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "PNS Admin" in html
    assert "Traceback" not in html
    assert "secret-of-the-crash" not in html


@pytest.mark.parametrize(
    ("url", "status", "heading"),
    [("/t/nope/", 404, "Not found"), ("/admin/", 403, "Not allowed")],
)
def test_error_pages_use_our_layout(client, db, url, status, heading):
    client.force_login(get_user_model().objects.create_user("someone"))
    response = client.get(url)
    assert response.status_code == status
    assert heading in response.content.decode()
    assert 'href="/static/css/app.css"' in response.content.decode()


def test_the_tenant_form_never_puts_the_secret_in_an_error_report(db):
    admin_user = get_user_model().objects.create_superuser("root", password="x" * 20)
    request = RequestFactory().post(
        reverse("admin:groups_tenant_add"), {"access_secret": "typed-secret-value"}
    )
    request.user = admin_user
    request._dont_enforce_csrf_checks = True
    tenant_admin = admin.site._registry[Tenant]
    assert isinstance(tenant_admin, TenantAdmin)
    tenant_admin.changeform_view(request)
    post = SafeExceptionReporterFilter().get_post_parameters(request)
    assert post["access_secret"] != "typed-secret-value"
    assert set(post["access_secret"]) == {"*"}


def test_settings_holding_keys_are_masked_in_error_reports():
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert set(safe["SECRET_KEY"]) == {"*"}
    assert set(str(safe["PNS_ENCRYPTION_KEYS"])) == {"*"}


def test_a_number_too_large_for_the_database_is_a_400_that_says_so(client, db):
    from tests.conftest import create_user

    client.force_login(create_user("root", superuser=True))
    someone = create_user("someone")
    response = client.post(
        reverse("admin:auth_user_change", args=[someone.pk]),
        {"username": "someone", "groups": "9223372036854775808",
         "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )  # fmt: skip
    if connection.vendor == "postgresql":
        # PostgreSQL compares the number as a numeric: the form says the choice is not valid.
        assert response.status_code == HTTPStatus.OK
        assert b"is not one of the available choices" in response.content
    else:
        # SQLite cannot take it as a parameter at all (it was a 500).
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert b"A number in this request is too large." in response.content
