from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _


class PnsAdminSite(admin.AdminSite):
    """The Django admin, logged into through our own login page (with its throttling), and
    answering 403 — not a second login form — to people without admin rights."""

    site_header = "PNS Admin"
    site_title = "PNS Admin"
    index_title = _("Administration")

    def login(self, request, extra_context=None):
        # Imported here: this module is loaded with INSTALLED_APPS, before the models.
        from django.contrib.auth.views import redirect_to_login

        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied
        return redirect_to_login(
            request.GET.get("next") or request.get_full_path(), settings.LOGIN_URL
        )

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return guarded


class PnsAdminConfig(AdminConfig):
    """Installs `PnsAdminSite` as the default admin site (INSTALLED_APPS names this)."""

    default_site = "groups.admin_site.PnsAdminSite"
