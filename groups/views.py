import logging

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from groups.access import tenant_view, visible_tenants
from groups.audit import record_event
from groups.models import AuditEvent, Tenant

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "groups/home.html", {"tenants": visible_tenants(request.user)})


@tenant_view
def tenant_detail(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return render(request, "groups/tenant_detail.html", {"tenant": tenant})


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        record_event(AuditEvent.Action.PASSWORD_CHANGED, request=self.request)
        messages.success(self.request, "Your password was changed.")
        return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and uptime checks: no login, 503 when the database does not answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("healthz: database unavailable (%s)", type(error).__name__)
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
