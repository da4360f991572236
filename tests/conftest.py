import importlib
import logging
import os
import random

import hypothesis
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import translation

from groups.models import Tenant, TenantMembership
from groups.nxcloud import PnsClient
from groups.roles import GROUP_EDITORS, SUPPORT, TENANT_ADMINS
from groups.simulator import PnsSimulator, SimGroup, generate_groups

# CI explores the same examples on every run (a red build means a change broke something);
# elsewhere hypothesis explores new ones each time, and finds what CI's fixed set does not.
hypothesis.settings.register_profile("ci", derandomize=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ACCESS_KEY = "test-ak-7a3f"
ACCESS_SECRET = "test-secret-Zq81vP0c"
PASSWORD = "correct-horse-battery-9"
UNREACHABLE_API_URL = "http://127.0.0.1:9/api/pns/"

# Every access secret a test hands to the application; none may ever show up in a response
# body or a log record (see `secrets_never_leak`).
KNOWN_SECRETS = {ACCESS_SECRET}


def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}"


# --- secrets never leak ---------------------------------------------------------------------


class _RecordCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.texts = []

    def emit(self, record):
        self.texts.append(record.getMessage())
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture(autouse=True)
def secrets_never_leak(monkeypatch):
    """Watch every log record and every test-client response body of every test."""
    collector = _RecordCollector()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    bodies = []
    original_request = Client.request

    def watched_request(self, **request):
        response = original_request(self, **request)
        if response.streaming:
            chunks = list(response.streaming_content)
            bodies.extend(chunks)
            response.streaming_content = iter(chunks)
        else:
            bodies.append(response.content)
        return response

    monkeypatch.setattr(Client, "request", watched_request)
    yield
    root.removeHandler(collector)
    root.setLevel(previous_level)
    for secret in KNOWN_SECRETS:
        assert not [t for t in collector.texts if secret in t], "a secret reached a log record"
        encoded = secret.encode()
        assert not [b for b in bodies if encoded in b], "a secret reached a response body"


# --- speed ----------------------------------------------------------------------------------


THREAD_TASKS = {"default": {"BACKEND": "groups.task_backends.ThreadBackend"}}


@pytest.fixture(autouse=True)
def test_settings(settings):
    # Tests create many users; production keeps Django's slow, strong default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Refresh tasks run inline (TASK_BACKEND is "immediate" under pytest), inside the test's
    # transaction; tests of background refreshes set THREAD_TASKS on a transactional database.
    settings.PNS_RETRY_BACKOFF = 0.01
    yield
    # A request in Chinese leaves Chinese active in this thread; the next test starts afresh.
    translation.deactivate()


# --- the simulator --------------------------------------------------------------------------


@pytest.fixture
def simulator():
    """The PNS simulator on a free loopback port, with no accounts yet."""
    with PnsSimulator() as sim:
        yield sim


@pytest.fixture
def account(simulator):
    """One simulator account holding three small, known groups."""
    return simulator.add_account(
        ACCESS_KEY,
        ACCESS_SECRET,
        [
            SimGroup(
                "b8c2aaf940d534d3c9ed8b780757f94e",
                "groupA",
                "cus_1",
                "Number Group A",
                ["85211111114", "85235753351", "85235753311"],
            ),
            SimGroup(
                "0f3c5d1e2b4a69788796a5b4c3d2e1f0",
                "客服热线",
                "cus_2",
                'Remark, with "quotes"',
                ["8613800138000"],
            ),
            SimGroup("11112222333344445555666677778888", "Ops", "", "=SUM(A1)", ["447911123456"]),
        ],
    )


@pytest.fixture
def big_account(simulator):
    """An account with 2,500 generated groups: three listGroup pages."""
    groups = generate_groups(random.Random(7), groups=2_500, phones=12_000)
    return simulator.add_account(ACCESS_KEY, ACCESS_SECRET, groups)


@pytest.fixture
def make_client(simulator):
    """Build a PnsClient for the simulator; backoff is shortened so retry tests stay quick."""
    clients = []

    def make(access_key=ACCESS_KEY, access_secret=ACCESS_SECRET, **options):
        options.setdefault("backoff_seconds", 0.01)
        client = PnsClient(simulator.url, access_key, access_secret, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def pns_client(make_client, account):
    return make_client()


# --- tenants and users ----------------------------------------------------------------------


def create_tenant(slug, *, secret=None, **fields):
    """A tenant whose secret is registered with `secrets_never_leak`."""
    secret = secret or f"secret-of-{slug}-K9x2"
    KNOWN_SECRETS.add(secret)
    fields.setdefault("name", slug.replace("-", " ").title())
    fields.setdefault("access_key", f"ak-{slug}")
    # Nothing listens there: a refresh fails at once, and never leaves this machine.
    fields.setdefault("api_url", UNREACHABLE_API_URL)
    tenant = Tenant(slug=slug, **fields)
    tenant.set_access_secret(secret)
    tenant.save()
    return tenant


def create_user(username, *, roles=(), perms=(), tenants=(), staff=False, superuser=False):
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=staff or superuser, is_superuser=superuser
    )
    user.groups.add(*Group.objects.filter(name__in=roles))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for tenant in tenants:
        TenantMembership.objects.create(user=user, tenant=tenant)
    return user


def ensure_roles() -> None:
    """The roles the migrations make. Tests on a transactional database empty every table
    after them, so the next one makes the roles again, as the migrations define them."""
    migration = importlib.import_module("groups.migrations.0002_roles")
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(Permission.objects.get(codename="export_numbers"))
    editors, _ = Group.objects.get_or_create(name=GROUP_EDITORS)
    editors.permissions.add(Permission.objects.get(codename="manage_groups"))
    tenant_admins, _ = Group.objects.get_or_create(name=TENANT_ADMINS)
    tenant_admins.permissions.add(Permission.objects.get(codename="view_full_numbers"))
    for app_label, codename in migration.TENANT_ADMIN_PERMISSIONS:
        tenant_admins.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def log_in(client, username, password=PASSWORD, **extra):
    """Log in through the login form, as a person does (throttling, audit and all)."""
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, **extra
    )
    assert response.status_code == 302, response.content[:500]
    return response


@pytest.fixture
def tenant_a(db):
    return create_tenant("tenant-a", name="Tenant A")


@pytest.fixture
def tenant_b(db):
    return create_tenant("tenant-b", name="Tenant B")


@pytest.fixture
def sim_tenant(db, simulator, account):
    """A tenant pointing at the simulator account with three groups."""
    return create_tenant(
        "sim", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url, name="Sim"
    )
