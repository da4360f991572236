"""The third role: Group editors, who may create, change and delete number groups in NXCloud
(on the tenants they can see)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_EDITORS = "Group editors"


def create_role(apps, schema_editor):
    # Permissions are normally created after all migrations; this one is needed now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    editors, _ = Group.objects.get_or_create(name=GROUP_EDITORS)
    editors.permissions.add(
        Permission.objects.get(content_type__app_label="groups", codename="manage_groups")
    )


def remove_role(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP_EDITORS).delete()


class Migration(migrations.Migration):
    dependencies = [("groups", "0010_manage_groups_permission")]

    operations = [migrations.RunPython(create_role, remove_role)]
