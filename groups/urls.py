from django.urls import path, register_converter

from groups import views


class ExportFormat:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ExportFormat, "export")

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("search/", views.search, name="search"),
    path("search.<export:fmt>", views.search_export, name="search_export"),
    path("numbers/reveal/", views.reveal_number, name="reveal_number"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("t/<slug:slug>/", views.tenant_detail, name="tenant_detail"),
    path("t/<slug:slug>/refresh/", views.tenant_refresh, name="tenant_refresh"),
    path("t/<slug:slug>/freshness/", views.tenant_freshness, name="tenant_freshness"),
    path("t/<slug:slug>/syncs/", views.sync_history, name="sync_history"),
    path("t/<slug:slug>/syncs.<export:fmt>", views.syncs_export, name="syncs_export"),
    path("t/<slug:slug>/changes/", views.group_changes, name="group_changes"),
    path("t/<slug:slug>/changes.<export:fmt>", views.changes_export, name="changes_export"),
    path("t/<slug:slug>/groups.<export:fmt>", views.groups_export, name="groups_export"),
    path("t/<slug:slug>/numbers.<export:fmt>", views.numbers_export, name="numbers_export"),
    path("t/<slug:slug>/groups/new/", views.group_create, name="group_create"),
    path("t/<slug:slug>/groups/<str:group_id>/", views.group_detail, name="group_detail"),
    path("t/<slug:slug>/groups/<str:group_id>/numbers/", views.group_numbers, name="group_numbers"),
    path("t/<slug:slug>/groups/<str:group_id>/delete/", views.group_delete, name="group_delete"),
    path("t/<slug:slug>/groups/<str:group_id>/reveal/", views.group_reveal, name="group_reveal"),
    path(
        "t/<slug:slug>/groups/<str:group_id>/numbers.<export:fmt>",
        views.group_numbers_export,
        name="group_numbers_export",
    ),
]
