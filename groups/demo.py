"""Demo data for `make demo`: simulator accounts, tenants pointing at them, and two users."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from groups import services
from groups.encryption import SecretUnreadable
from groups.models import Tenant
from groups.roles import SUPPORT
from groups.simulator import AccountSpec

# Made-up accounts that exist only in the simulator.
SIMULATOR_SECRET = "sim-secret"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    algorithm: str
    account: AccountSpec
    notes: str
    default_region: str = ""


DEMO_TENANTS = (
    DemoTenant(
        "hk-hotline",
        "Hong Kong Hotline",
        "md5",
        AccountSpec("sim-ak-hk01", SIMULATOR_SECRET, groups=300, phones=6_000),
        "Customer hotline numbers, Hong Kong.",
        "HK",
    ),
    DemoTenant(
        "cn-support",
        "Mainland Support",
        "sha256",
        AccountSpec("sim-ak-cn02", SIMULATOR_SECRET, groups=200, phones=3_000),
        "After-sales support; signs with SHA-256.",
        "CN",
    ),
    DemoTenant(
        "global-sales",
        "Global Sales",
        "md5",
        AccountSpec("sim-ak-gl03", SIMULATOR_SECRET, groups=20_000, phones=200_000),
        "The big one: 20,000 groups.",
    ),
)
SUPPORT_TENANTS = ("hk-hotline", "cn-support")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    description: str


def demo_accounts() -> list[AccountSpec]:
    return [tenant.account for tenant in DEMO_TENANTS]


def fresh_password() -> str:
    return secrets.token_urlsafe(9)


@transaction.atomic
def demo_setup(*, simulator_url: str, admin_password: str = "") -> list[DemoLogin]:
    """Create or refresh the demo tenants (pointing at `simulator_url`) and users; returns
    the logins with their new passwords."""
    for demo in DEMO_TENANTS:
        tenant = Tenant.objects.filter(slug=demo.slug).first() or Tenant(slug=demo.slug)
        tenant.name = demo.name
        tenant.api_url = simulator_url
        tenant.access_key = demo.account.access_key
        tenant.algorithm = demo.algorithm
        tenant.notes = demo.notes
        tenant.default_region = demo.default_region
        tenant.is_active = True
        keep_secret = tenant.has_access_secret and _secret_is(tenant, SIMULATOR_SECRET)
        services.tenant_save(tenant=tenant, access_secret="" if keep_secret else SIMULATOR_SECRET)

    User = get_user_model()
    admin, _ = User.objects.get_or_create(username="admin")
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin_password = admin_password or fresh_password()
    admin.set_password(admin_password)
    admin.save()

    support, _ = User.objects.get_or_create(username="support")
    support.is_staff = support.is_superuser = False
    support.is_active = True
    support_password = fresh_password()
    support.set_password(support_password)
    support.save()
    support.groups.add(Group.objects.get(name=SUPPORT))
    services.access_grant(user=support, tenants=Tenant.objects.filter(slug__in=SUPPORT_TENANTS))

    return [
        DemoLogin("admin", admin_password, "superuser: every tenant and the administration"),
        DemoLogin("support", support_password, f"support: {', '.join(SUPPORT_TENANTS)}"),
    ]


def _secret_is(tenant: Tenant, expected: str) -> bool:
    try:
        return tenant.decrypt_access_secret() == expected
    except SecretUnreadable:
        return False
