"""Who may see which tenant: the one place that decides it.

Every tenant-scoped page, search and export starts from `visible_tenants(user)` (or
`tenant_view`, which uses it), so they cannot disagree. A tenant a user may not see is a 404:
its existence is not revealed.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from groups.models import Tenant

VIEW_ALL_TENANTS = "groups.view_all_tenants"
EXPORT_PERMISSION = "groups.export_numbers"
MANAGE_GROUPS_PERMISSION = "groups.manage_groups"
FULL_NUMBERS_PERMISSION = "groups.view_full_numbers"


def sees_all_tenants(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm(VIEW_ALL_TENANTS))


def visible_tenants(user) -> QuerySet[Tenant]:
    """The active tenants `user` may see: all of them for superusers and view_all_tenants
    holders, the granted ones for everybody else (staff rights alone grant nothing)."""
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    tenants = Tenant.objects.filter(is_active=True)
    if sees_all_tenants(user):
        return tenants
    return tenants.filter(memberships__user=user)


def visible_tenant_or_404(user, slug: str) -> Tenant:
    try:
        return visible_tenants(user).get(slug=slug)
    except Tenant.DoesNotExist:
        raise Http404("No such tenant.") from None


def tenant_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; the URL's `slug` becomes the `tenant` argument, or a 404."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args, **kwargs) -> HttpResponse:
        return view(request, visible_tenant_or_404(request.user, slug), *args, **kwargs)

    wrapper.tenant_scoped = True
    return wrapper
