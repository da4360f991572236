"""The two roles: Support (sees, searches, exports and refreshes granted tenants) and
Tenant admins (manage tenants, users and grants in the admin)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = "Support"
TENANT_ADMINS = "Tenant admins"

TENANT_ADMIN_PERMISSIONS = [
    ("groups", "add_tenant"),
    ("groups", "change_tenant"),
    ("groups", "delete_tenant"),
    ("groups", "view_tenant"),
    ("groups", "add_tenantmembership"),
    ("groups", "delete_tenantmembership"),
    ("groups", "view_tenantmembership"),
    ("groups", "view_auditevent"),
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_user"),
    ("auth", "view_group"),
    # Unlocking a locked-out login is deleting its access attempts.
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accesslog"),
]


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; these need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.get_or_create(name=SUPPORT)
    tenant_admins, _ = Group.objects.get_or_create(name=TENANT_ADMINS)
    for app_label, codename in TENANT_ADMIN_PERMISSIONS:
        tenant_admins.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[SUPPORT, TENANT_ADMINS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("axes", "0010_accessattemptexpiration"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
