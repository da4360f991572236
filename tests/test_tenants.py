"""Tenants: encrypted credentials, the admin's tenant pages, the CLI, key rotation."""

import getpass
import io
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse

from groups.encryption import SecretUnreadable
from groups.models import AuditEvent, Tenant, TenantMembership
from groups.roles import TENANT_ADMINS
from tests.conftest import (
    ACCESS_KEY,
    ACCESS_SECRET,
    KNOWN_SECRETS,
    UNREACHABLE_API_URL,
    create_tenant,
    create_user,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
Action = AuditEvent.Action
NEW_SECRET = "brand-new-secret-Qw3rty"
KNOWN_SECRETS.add(NEW_SECRET)


def actions():
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- secrets at rest ------------------------------------------------------------------------


def test_the_access_secret_is_stored_encrypted_and_readable(tenant_a):
    stored = Tenant.objects.values_list("access_secret_token", flat=True).get(pk=tenant_a.pk)
    assert "secret-of-tenant-a" not in stored
    assert Tenant.objects.get(pk=tenant_a.pk).decrypt_access_secret() == "secret-of-tenant-a-K9x2"


def test_key_rotation_re_encrypts_every_secret_and_old_keys_keep_decrypting(db, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PNS_ENCRYPTION_KEYS = [old_key]
    tenants = [create_tenant(f"rot-{n}") for n in range(3)]
    before = dict(Tenant.objects.values_list("slug", "access_secret_token"))

    settings.PNS_ENCRYPTION_KEYS = [new_key, old_key]
    assert Tenant.objects.get(slug="rot-0").decrypt_access_secret() == "secret-of-rot-0-K9x2"
    out = io.StringIO()
    call_command("pns_rotate_keys", stdout=out)
    assert "Re-encrypted 3 access secrets" in out.getvalue()

    after = dict(Tenant.objects.values_list("slug", "access_secret_token"))
    assert all(after[t.slug] != before[t.slug] for t in tenants)
    settings.PNS_ENCRYPTION_KEYS = [new_key]
    for tenant in tenants:
        assert (
            Tenant.objects.get(pk=tenant.pk).decrypt_access_secret()
            == f"secret-of-{tenant.slug}-K9x2"
        )
    assert AuditEvent.objects.get(action=Action.KEYS_ROTATED).details == {"tenants": 3}


def test_a_removed_key_makes_the_secret_unreadable_with_a_clear_message(db, settings):
    settings.PNS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    tenant = create_tenant("lost")
    settings.PNS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretUnreadable, match="Set the secret again"):
        Tenant.objects.get(pk=tenant.pk).decrypt_access_secret()
    with pytest.raises(
        CommandError,
        match="tenant 'lost' cannot be decrypted with any configured key; nothing was rotated",
    ):
        call_command("pns_rotate_keys")


def production_env(**overrides):
    env = {
        k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "PNS_ENCRYPTION_KEYS"}
    }
    env.update(DEBUG="0", SECRET_KEY="x" * 60, **overrides)
    return env


def check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_encryption_keys_fails_the_system_check():
    result = check(production_env())
    assert result.returncode != 0
    assert "pns.E001" in result.stderr
    assert "PNS_ENCRYPTION_KEYS is not set" in result.stderr


def test_a_malformed_encryption_key_fails_the_check_without_showing_the_key():
    good = Fernet.generate_key().decode()
    result = check(production_env(PNS_ENCRYPTION_KEYS=f"{good},not-a-real-key-value"))
    assert result.returncode != 0
    assert "pns.E002" in result.stderr and "position(s) 2" in result.stderr
    assert "not-a-real-key-value" not in result.stderr + result.stdout


# --- the admin's tenant pages ---------------------------------------------------------------


@pytest.fixture
def tenant_admin(db, client):
    user = create_user("tadmin", roles=[TENANT_ADMINS], staff=True)
    client.force_login(user)
    return user


def tenant_form(**overrides):
    data = {
        "name": "Hong Kong",
        "slug": "hk",
        "api_url": UNREACHABLE_API_URL,
        "access_key": "ak-hk",
        "access_secret": NEW_SECRET,
        "algorithm": "md5",
        "is_active": "on",
        "notes": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_a_tenant_admin_adds_a_tenant_with_its_secret(client, tenant_admin):
    response = client.post(reverse("admin:groups_tenant_add"), tenant_form())
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    tenant = Tenant.objects.get(slug="hk")
    assert tenant.decrypt_access_secret() == NEW_SECRET
    assert tenant.secret_changed_at is not None
    event = AuditEvent.objects.get(action=Action.TENANT_CREATED)
    assert (event.user, event.tenant, event.ip) == (tenant_admin, tenant, "127.0.0.1")


def test_a_new_tenant_needs_a_secret(client, tenant_admin):
    response = client.post(reverse("admin:groups_tenant_add"), tenant_form(access_secret=""))
    assert response.status_code == HTTPStatus.OK
    assert b"An access secret is required." in response.content
    assert not Tenant.objects.exists()


def test_invalid_fields_are_form_errors(client, tenant_admin):
    response = client.post(
        reverse("admin:groups_tenant_add"), tenant_form(slug="not a slug", api_url="nope")
    )
    assert response.status_code == HTTPStatus.OK
    assert b"Enter a valid URL." in response.content
    assert not Tenant.objects.exists()


def test_the_change_page_never_shows_the_secret_but_says_it_is_set(client, tenant_admin, tenant_a):
    response = client.get(reverse("admin:groups_tenant_change", args=[tenant_a.pk]))
    html = response.content.decode()
    assert "A secret is set (last changed" in html
    assert 'name="access_secret" autocomplete="new-password"' in html
    assert tenant_a.access_secret_token not in html
    assert "Test connection" in html


def test_leaving_the_secret_blank_keeps_it_and_a_new_one_replaces_it(
    client, tenant_admin, tenant_a
):
    url = reverse("admin:groups_tenant_change", args=[tenant_a.pk])
    token = tenant_a.access_secret_token
    form = tenant_form(name="Tenant A", slug="tenant-a", access_key="ak-tenant-a", notes="VIP")
    response = client.post(url, {**form, "access_secret": ""})
    assert response.status_code == HTTPStatus.FOUND
    tenant_a.refresh_from_db()
    assert tenant_a.access_secret_token == token
    assert tenant_a.notes == "VIP"
    changed = AuditEvent.objects.get(action=Action.TENANT_CHANGED)
    assert changed.details == {"changes": {"notes": {"from": "", "to": "VIP"}}}
    assert not AuditEvent.objects.filter(action=Action.CREDENTIAL_CHANGED).exists()

    client.post(url, form)
    tenant_a.refresh_from_db()
    assert tenant_a.decrypt_access_secret() == NEW_SECRET
    event = AuditEvent.objects.get(action=Action.CREDENTIAL_CHANGED)
    assert event.details == {"credential": "access secret"}


def test_changing_the_access_key_is_a_credential_change_without_values(
    client, tenant_admin, tenant_a
):
    url = reverse("admin:groups_tenant_change", args=[tenant_a.pk])
    form = tenant_form(name="Tenant A", slug="tenant-a", access_key="ak-rotated", access_secret="")
    client.post(url, form)
    event = AuditEvent.objects.get(action=Action.CREDENTIAL_CHANGED)
    assert event.details == {"credential": "access key"}
    assert "ak-rotated" not in str(event.details)


def test_test_connection_shows_ok_with_the_group_count(client, tenant_admin, sim_tenant):
    url = reverse("admin:groups_tenant_test_connection", args=[sim_tenant.pk])
    response = client.post(url, follow=True)
    assert "Sim: OK — 3 groups" in [str(m) for m in response.context["messages"]]
    event = AuditEvent.objects.get(action=Action.CONNECTION_TESTED)
    assert event.details["ok"] is True and event.details["groups"] == 3


def test_test_connection_explains_nxcloud_errors_with_the_request_id(
    client, tenant_admin, simulator, account
):
    tenant = create_tenant("wrong", api_url=simulator.url, access_key=ACCESS_KEY)
    url = reverse("admin:groups_tenant_test_connection", args=[tenant.pk])
    response = client.post(url, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    request_id = simulator.calls[-1].request_id
    assert "NXCloud error 1003" in message
    assert "access secret is wrong" in message
    assert f"requestId: {request_id}" in message
    assert (
        AuditEvent.objects.get(action=Action.CONNECTION_TESTED).details["request_id"] == request_id
    )


def test_test_connection_is_post_only(client, tenant_admin, sim_tenant):
    url = reverse("admin:groups_tenant_test_connection", args=[sim_tenant.pk])
    assert client.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_granting_from_the_tenant_page_is_audited(client, tenant_admin, tenant_a):
    support = create_user("helper")
    url = reverse("admin:groups_tenant_change", args=[tenant_a.pk])
    form = tenant_form(name="Tenant A", slug="tenant-a", access_key="ak-tenant-a", access_secret="")
    form.update({"memberships-TOTAL_FORMS": "1", "memberships-0-user": str(support.pk)})
    response = client.post(url, form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    assert TenantMembership.objects.filter(user=support, tenant=tenant_a).exists()
    event = AuditEvent.objects.get(action=Action.ACCESS_GRANTED)
    assert (event.user, event.tenant, event.details) == (
        tenant_admin,
        tenant_a,
        {"grantee": "helper"},
    )


def test_granting_from_the_user_page_is_audited_and_revoking_too(client, tenant_admin, tenant_a):
    support = create_user("helper")
    url = reverse("admin:auth_user_change", args=[support.pk])
    form = {
        "username": "helper",
        "is_active": "on",
        "tenant_memberships-TOTAL_FORMS": "1",
        "tenant_memberships-INITIAL_FORMS": "0",
        "tenant_memberships-MIN_NUM_FORMS": "0",
        "tenant_memberships-MAX_NUM_FORMS": "1000",
        "tenant_memberships-0-tenant": str(tenant_a.pk),
    }
    response = client.post(url, form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    membership = TenantMembership.objects.get(user=support, tenant=tenant_a)

    form.update(
        {
            "tenant_memberships-INITIAL_FORMS": "1",
            "tenant_memberships-0-id": str(membership.pk),
            "tenant_memberships-0-user": str(support.pk),
            "tenant_memberships-0-DELETE": "on",
        }
    )
    response = client.post(url, form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    assert not TenantMembership.objects.exists()
    assert actions()[-2:] == [Action.ACCESS_GRANTED, Action.ACCESS_REVOKED]


def test_removing_a_tenant_is_audited_by_slug(client, tenant_admin, tenant_a):
    url = reverse("admin:groups_tenant_delete", args=[tenant_a.pk])
    client.post(url, {"post": "yes"})
    assert not Tenant.objects.exists()
    event = AuditEvent.objects.get(action=Action.TENANT_REMOVED)
    assert (event.tenant_slug, event.details) == ("tenant-a", {"name": "Tenant A"})


def test_a_tenant_admin_cannot_make_anybody_a_superuser(client, tenant_admin):
    url = reverse("admin:auth_user_change", args=[tenant_admin.pk])
    page = client.get(url).content.decode()
    assert 'name="is_superuser"' not in page
    assert 'name="user_permissions"' not in page
    client.post(
        url,
        {
            "username": "tadmin",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "tenant_memberships-TOTAL_FORMS": "0",
            "tenant_memberships-INITIAL_FORMS": "0",
        },
    )
    tenant_admin.refresh_from_db()
    assert not tenant_admin.is_superuser


def test_a_tenant_admin_cannot_touch_a_superuser(client, tenant_admin):
    root = create_user("root", superuser=True)
    assert client.get(reverse("admin:auth_user_change", args=[root.pk])).status_code in {
        HTTPStatus.FORBIDDEN,
        HTTPStatus.OK,
    }
    response = client.post(reverse("admin:auth_user_change", args=[root.pk]), {"username": "root2"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    root.refresh_from_db()
    assert root.username == "root"


# --- the command line -----------------------------------------------------------------------


def tenant_command(*args, stdin=""):
    out = io.StringIO()
    call_command("pns_tenant", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def test_the_cli_adds_a_tenant_reading_the_secret_from_stdin(db):
    out = tenant_command(
        "add",
        "hk",
        "--name",
        "Hong Kong",
        "--access-key",
        "ak-hk",
        "--algorithm",
        "sha256",
        stdin=NEW_SECRET + "\n",
    )
    assert out == "Added tenant hk (Hong Kong).\n"
    tenant = Tenant.objects.get(slug="hk")
    assert (tenant.algorithm, tenant.decrypt_access_secret()) == ("sha256", NEW_SECRET)
    assert actions() == [Action.TENANT_CREATED]
    assert AuditEvent.objects.get().username == f"cli:{getpass.getuser()}"


def test_the_cli_never_takes_the_secret_as_an_argument(db):
    with pytest.raises(CommandError):
        tenant_command("add", "hk", "--name", "HK", "--access-key", "k", "--access-secret", "s")


def test_the_cli_refuses_an_empty_secret_and_invalid_fields(db):
    with pytest.raises(CommandError, match="No access secret on standard input"):
        tenant_command("add", "hk", "--name", "HK", "--access-key", "k", stdin="\n")
    with pytest.raises(CommandError, match="api_url: Enter a valid URL"):
        tenant_command(
            "add", "hk", "--name", "HK", "--access-key", "k", "--api-url", "nope", stdin="s\n"
        )
    assert not Tenant.objects.exists()


def test_the_cli_lists_updates_and_removes(db, tenant_a):
    listing = tenant_command("list")
    assert "tenant-a" in listing and "ak-tenant-a" in listing and "set" in listing
    assert tenant_a.access_secret_token not in listing

    out = tenant_command("update", "tenant-a", "--inactive", "--notes", "paused")
    assert out == "Updated tenant tenant-a: is_active, notes.\n"
    out = tenant_command("update", "tenant-a", "--secret-from-stdin", stdin=NEW_SECRET + "\n")
    assert out == "Updated tenant tenant-a: access secret.\n"
    tenant_a.refresh_from_db()
    assert not tenant_a.is_active
    assert tenant_a.decrypt_access_secret() == NEW_SECRET

    with pytest.raises(CommandError, match="Nothing to update"):
        tenant_command("update", "tenant-a")
    assert tenant_command("remove", "tenant-a") == "Removed tenant tenant-a.\n"
    assert not Tenant.objects.exists()
    with pytest.raises(CommandError, match="No tenant with slug 'tenant-a'"):
        tenant_command("remove", "tenant-a")


def test_the_cli_tests_a_connection(db, sim_tenant, simulator):
    assert tenant_command("test", "sim") == "sim: OK — 3 groups\n"
    simulator.inject("error_code", code=1005, times=None)
    with pytest.raises(CommandError, match="sim: NXCloud error 1005"):
        tenant_command("test", "sim")


def test_cli_errors_exit_non_zero_with_one_line():
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env["DEBUG"] = "1"
    env["DATABASE_URL"] = "sqlite:///:memory:"
    result = subprocess.run(
        [sys.executable, "manage.py", "pns_tenant", "frobnicate"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "invalid choice: 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_pns_grant_grants_and_revokes(db, tenant_a, tenant_b):
    user = create_user("helper")
    out = io.StringIO()
    call_command("pns_grant", "helper", "tenant-a", "tenant-b", stdout=out)
    assert out.getvalue() == "Granted helper: tenant-a, tenant-b.\n"
    assert set(user.tenant_memberships.values_list("tenant__slug", flat=True)) == {
        "tenant-a",
        "tenant-b",
    }
    out = io.StringIO()
    call_command("pns_grant", "helper", "tenant-a", "--revoke", stdout=out)
    assert out.getvalue() == "Revoked helper: tenant-a.\n"
    assert actions() == [Action.ACCESS_GRANTED, Action.ACCESS_GRANTED, Action.ACCESS_REVOKED]


def test_pns_grant_refuses_unknown_users_and_tenants_changing_nothing(db, tenant_a):
    create_user("helper")
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("pns_grant", "ghost", "tenant-a")
    with pytest.raises(CommandError, match=r"No tenant with slug: nope\. Nothing changed\."):
        call_command("pns_grant", "helper", "tenant-a", "nope")
    assert not TenantMembership.objects.exists()


def test_the_client_of_a_tenant_signs_with_its_secret_and_algorithm(db, simulator, account):
    tenant = create_tenant(
        "sha",
        secret=ACCESS_SECRET,
        access_key=ACCESS_KEY,
        api_url=simulator.url,
        algorithm="sha256",
    )
    with tenant.pns_client() as client:
        assert client.list_groups_page(1, 0)[1] == 3
    assert simulator.calls[-1].headers["algorithm"] == "sha256"
