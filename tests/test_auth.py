"""Logging in and out: our pages, throttling, sessions, and the audit log of it all."""

import csv
import io
import json
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from groups.models import AuditEvent
from groups.roles import TENANT_ADMINS
from tests.conftest import PASSWORD, create_user, log_in

Action = AuditEvent.Action


@pytest.fixture
def helper(db):
    return create_user("helper")


def fail_login(client, username="helper", **extra):
    return client.post(
        reverse("login"), {"username": username, "password": "wrong-password"}, **extra
    )


def test_logins_logouts_and_failures_are_audited_with_the_source_address(client, helper):
    fail_login(client, REMOTE_ADDR="203.0.113.7")
    log_in(client, "helper", REMOTE_ADDR="203.0.113.7")
    client.post(reverse("logout"), REMOTE_ADDR="203.0.113.7")

    events = list(AuditEvent.objects.order_by("id"))
    assert [(e.action, e.username, e.ip) for e in events] == [
        (Action.LOGIN_FAILED, "helper", "203.0.113.7"),
        (Action.LOGIN, "helper", "203.0.113.7"),
        (Action.LOGOUT, "helper", "203.0.113.7"),
    ]
    assert all("wrong-password" not in json.dumps(e.details) for e in events)


def test_the_address_comes_from_our_proxy_when_told_to_trust_it(client, helper, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    log_in(client, "helper", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9")
    assert AuditEvent.objects.get(action=Action.LOGIN).ip == "198.51.100.9"


def test_five_failures_lock_the_user_out_from_that_address(client, helper):
    for _ in range(4):
        assert fail_login(client).status_code == HTTPStatus.OK
    locked = fail_login(client)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert b"Too many failed logins" in locked.content
    assert b"locked for 30 minutes" in locked.content

    # Even the right password is refused now, and the lockout is in the audit log.
    right = client.post(reverse("login"), {"username": "helper", "password": PASSWORD})
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert AuditEvent.objects.filter(action=Action.LOCKOUT, username="helper").exists()
    # Every refused attempt is logged: five failures and the one refused while locked.
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED).count() == 6

    # Another address is not locked out.
    log_in(client, "helper", REMOTE_ADDR="192.0.2.50")


def test_an_admin_unlocks_a_locked_login(client, helper):
    for _ in range(5):
        fail_login(client)
    admin = create_user("tadmin", roles=[TENANT_ADMINS], staff=True)
    admin_client = type(client)()
    admin_client.force_login(admin)
    attempts = admin_client.get("/admin/axes/accessattempt/")
    assert attempts.status_code == HTTPStatus.OK
    assert b"helper" in attempts.content
    attempt = AccessAttempt.objects.get(username="helper")
    admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert not AccessAttempt.objects.exists()

    log_in(client, "helper")


def test_logging_in_starts_a_new_session(client, helper):
    client.get(reverse("login"))
    session = client.session
    session["seen"] = True
    session.save()
    before = client.cookies[settings.SESSION_COOKIE_NAME].value
    log_in(client, "helper")
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert before != after
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == settings.SESSION_COOKIE_AGE
    assert client.cookies[settings.SESSION_COOKIE_NAME]["httponly"]


def test_logout_is_post_only(client, helper):
    log_in(client, "helper")
    assert client.get(reverse("logout")).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert client.get("/").status_code == HTTPStatus.OK
    client.post(reverse("logout"))
    assert client.get("/").status_code == HTTPStatus.FOUND


def test_a_user_changes_their_password_on_our_page(client, helper):
    log_in(client, "helper")
    page = client.get(reverse("password_change"))
    assert "registration/password_change_form.html" in [t.name for t in page.templates]
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-whole-new-phrase-42",
            "new_password2": "a-whole-new-phrase-42",
        },
        follow=True,
    )
    assert "Your password was changed." in [str(m) for m in response.context["messages"]]
    helper.refresh_from_db()
    assert helper.check_password("a-whole-new-phrase-42")
    assert AuditEvent.objects.filter(action=Action.PASSWORD_CHANGED, user=helper).exists()


def test_a_weak_new_password_is_a_form_error(client, helper):
    log_in(client, "helper")
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert response.status_code == HTTPStatus.OK
    assert b"This password is too short." in response.content


# --- the audit log in the admin -------------------------------------------------------------


@pytest.fixture
def auditor(client, db):
    user = create_user("tadmin", roles=[TENANT_ADMINS], staff=True)
    client.force_login(user)
    return user


def test_the_audit_log_is_read_only_in_the_admin(client, auditor, helper):
    fail_login(type(client)())
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert client.get("/admin/groups/auditevent/").status_code == HTTPStatus.OK
    assert client.get("/admin/groups/auditevent/add/").status_code == HTTPStatus.FORBIDDEN
    response = client.post(f"/admin/groups/auditevent/{event.pk}/change/", {"action": "login"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    delete = client.post(f"/admin/groups/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert delete.status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(pk=event.pk, action=Action.LOGIN_FAILED).exists()


def test_the_audit_log_exports_the_filtered_rows_as_csv(client, auditor, helper):
    anonymous = type(client)()
    fail_login(anonymous, username="=cmd|calc")
    log_in(anonymous, "helper")
    response = client.get("/admin/groups/auditevent/export.csv?action__exact=login_failed")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "username", "ip", "action", "tenant", "details"]
    assert [row[1:5] for row in rows[1:]] == [["'=cmd|calc", "127.0.0.1", "login_failed", ""]]


def test_an_audit_download_with_broken_filters_is_a_400_that_says_so(client, auditor):
    response = client.get("/admin/groups/auditevent/export.csv?at__year=")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"The filters in this address are not valid for the audit log." in response.content
