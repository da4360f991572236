import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from groups import services
from groups.exports import Column, csv_response
from groups.models import AuditEvent, SyncRun, Tenant, TenantMembership
from groups.roles import ROLE_NAMES

User = get_user_model()


class TenantAdminForm(forms.ModelForm):
    access_secret = forms.CharField(
        label=_("Access secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Tenant
        fields = [
            "name",
            "slug",
            "default_region",
            "api_url",
            "access_key",
            "algorithm",
            "is_active",
            "notes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["access_secret"]
        if self.instance.has_access_secret:
            changed = self.instance.secret_changed_at
            when = date_format(timezone.localtime(changed), "DATETIME_FORMAT") if changed else "?"
            field.help_text = gettext(
                "A secret is set (last changed %(when)s). Leave blank to keep it."
            ) % {"when": when}
        else:
            field.help_text = gettext(
                "The NXCloud account's accessSecret. It is stored encrypted and never shown again."
            )

    def clean(self):
        cleaned = super().clean()
        if not self.instance.has_access_secret and not cleaned.get("access_secret"):
            self.add_error("access_secret", gettext("An access secret is required."))
        return cleaned


class MembershipAuditMixin:
    """Grants and revocations made in an inline go through the services (and the audit log)."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not TenantMembership:
            return super().save_formset(request, form, formset, change)
        new_memberships = formset.save(commit=False)
        for membership in formset.deleted_objects:
            services.access_revoke(
                user=membership.user, tenants=[membership.tenant], request=request
            )
        for membership in new_memberships:
            if membership.pk is None:
                services.access_grant(
                    user=membership.user, tenants=[membership.tenant], request=request
                )
        return None


class ReadOnlyRowsInline(admin.TabularInline):
    """Existing grants are shown, added and removed, never edited in place."""

    model = TenantMembership
    extra = 0
    readonly_fields = ["granted_at", "granted_by"]

    def has_change_permission(self, request, obj=None):
        return False


class TenantMembershipInline(ReadOnlyRowsInline):
    fields = ["user", "granted_at", "granted_by"]
    autocomplete_fields = ["user"]
    verbose_name = _("user who may see this tenant")
    verbose_name_plural = _("users who may see this tenant")


class UserMembershipInline(ReadOnlyRowsInline):
    fk_name = "user"
    fields = ["tenant", "granted_at", "granted_by"]
    autocomplete_fields = ["tenant"]
    verbose_name = _("tenant this user may see")
    verbose_name_plural = _("tenants this user may see")


@admin.register(Tenant)
class TenantAdmin(MembershipAuditMixin, admin.ModelAdmin):
    form = TenantAdminForm
    list_display = [
        "name",
        "slug",
        "access_key",
        "algorithm",
        "is_active",
        "secret_set",
        "users",
        "last_refresh",
    ]
    list_filter = ["is_active", "algorithm"]
    search_fields = ["name", "slug", "access_key", "notes"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["secret_changed_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "default_region", "is_active", "notes"]}),
        (
            "NXCloud account",
            {
                "fields": [
                    "api_url",
                    "access_key",
                    "access_secret",
                    "algorithm",
                    "secret_changed_at",
                ]
            },
        ),
        (_("History"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [TenantMembershipInline]
    actions = ["test_connections"]

    @method_decorator(sensitive_post_parameters("access_secret"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Error reports of this page (add and change) never show the typed secret.
        return super().changeform_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request):
        latest_runs = SyncRun.objects.filter(tenant=OuterRef("pk")).order_by("-started_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                user_count=Count("memberships", distinct=True),
                last_refresh_status=Subquery(latest_runs.values("status")[:1]),
                last_refresh_at=Subquery(latest_runs.values("started_at")[:1]),
            )
        )

    @admin.display(description=_("last refresh"), ordering="last_refresh_at")
    def last_refresh(self, tenant: Tenant) -> str:
        if tenant.last_refresh_at is None:
            return "never"
        status = SyncRun.Status(tenant.last_refresh_status).label
        when = date_format(timezone.localtime(tenant.last_refresh_at), "SHORT_DATETIME_FORMAT")
        return f"{status}, {when}"

    @admin.display(boolean=True, description=_("secret set"))
    def secret_set(self, tenant: Tenant) -> bool:
        return tenant.has_access_secret

    @admin.display(description=_("users granted"), ordering="user_count")
    def users(self, tenant: Tenant) -> int:
        return tenant.user_count

    def save_model(self, request, obj, form, change):
        services.tenant_save(
            tenant=obj, access_secret=form.cleaned_data.get("access_secret", ""), request=request
        )

    def delete_model(self, request, obj):
        services.tenant_remove(tenant=obj, request=request)

    def delete_queryset(self, request, queryset):
        for tenant in queryset:
            services.tenant_remove(tenant=tenant, request=request)

    def get_urls(self):
        return [
            path(
                "<int:pk>/test-connection/",
                self.admin_site.admin_view(require_POST(self.test_connection_view)),
                name="groups_tenant_test_connection",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, pk: int):
        tenant = get_object_or_404(Tenant, pk=pk)
        if not self.has_view_or_change_permission(request, tenant):
            raise PermissionDenied
        self._report_test(request, tenant)
        return HttpResponseRedirect(reverse("admin:groups_tenant_change", args=[tenant.pk]))

    @admin.action(description=_("Test connection of the selected tenants"))
    def test_connections(self, request, queryset):
        for tenant in queryset:
            self._report_test(request, tenant)

    def _report_test(self, request: HttpRequest, tenant: Tenant) -> None:
        result = services.tenant_test_connection(tenant=tenant, request=request)
        level = messages.SUCCESS if result.ok else messages.ERROR
        self.message_user(request, f"{tenant.name}: {result.message}", level)


# --- users ----------------------------------------------------------------------------------

admin.site.unregister(User)


@admin.register(User)
class PnsUserAdmin(MembershipAuditMixin, UserAdmin):
    """Users with their tenant grants. Tenant admins manage users but cannot raise anybody
    (themselves included) to superuser, hand out permissions, or touch superusers."""

    inlines = [UserMembershipInline]
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "roles",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def roles(self, user) -> str:
        return ", ".join(group.name for group in user.groups.all()) or "—"

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "user_permissions", "last_login", "date_joined"]
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_NAMES)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


# --- audit log ------------------------------------------------------------------------------


class DateHierarchyChangeList(ChangeList):
    """Django's changelist takes a date-hierarchy year past datetime's range (…?at__year=
    2147483648) for a server error; like any other bad filter, it is one."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except OverflowError as error:
            raise IncorrectLookupParameters(error) from error


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: events are written by the application, never by hand."""

    list_display = ["at", "username", "ip", "action", "tenant_slug", "summary"]
    list_filter = ["action", "tenant_slug"]
    search_fields = ["username", "ip", "tenant_slug"]
    date_hierarchy = "at"
    list_per_page = 100

    @admin.display(description=_("details"))
    def summary(self, event: AuditEvent) -> str:
        text = "; ".join(f"{key}: {value}" for key, value in event.details.items())
        return text if len(text) <= 140 else text[:139] + "…"

    def get_changelist(self, request, **kwargs):
        return DateHierarchyChangeList

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_view),
                name="groups_auditevent_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest):
        """The changelist's rows with its current filters, search and ordering, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            events = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            message = gettext("The filters in this address are not valid for the audit log.")
            return render(request, "400.html", {"message": message}, status=400)
        rows = (
            (
                e.at.isoformat(),
                e.username,
                e.ip or "",
                e.action,
                e.tenant_slug,
                json.dumps(e.details, ensure_ascii=False, sort_keys=True),
            )
            for e in events.iterator(chunk_size=2000)
        )
        filename = f"audit-{timezone.localdate():%Y%m%d}.csv"
        columns = [Column(h) for h in ("at", "username", "ip", "action", "tenant", "details")]
        return csv_response(filename, columns, rows)
