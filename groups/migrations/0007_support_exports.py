"""Support may export by default (an admin can take it away to make view-only users)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT = "Support"


def grant_export(apps, schema_editor):
    app_config = apps.get_app_config("groups")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(
        Permission.objects.get(content_type__app_label="groups", codename="export_numbers")
    )


def revoke_export(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name=SUPPORT):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="groups", codename="export_numbers")
        )


class Migration(migrations.Migration):
    dependencies = [("groups", "0006_export_permission")]

    operations = [migrations.RunPython(grant_export, revoke_export)]
