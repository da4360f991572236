from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = "PNS number groups"

    def ready(self) -> None:
        # Signal receivers (audit of logins and lockouts) and system checks.
        from groups import audit, checks  # noqa: F401
