"""The audit log: one function records an event; signal receivers record logins and lockouts."""

import getpass
import logging
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from groups.models import AuditEvent, Tenant

logger = logging.getLogger(__name__)
Action = AuditEvent.Action


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or the entry our own proxies added to
    X-Forwarded-For when TRUSTED_PROXY_COUNT says there are some."""
    if request is None:
        return None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def record_event(
    action: str,
    *,
    request: HttpRequest | None = None,
    user: Any = None,
    username: str = "",
    tenant: Tenant | None = None,
    tenant_slug: str = "",
    **details: Any,
) -> AuditEvent:
    """Write one audit event. `user` defaults to the request's user; never pass a secret."""
    if user is None and request is not None:
        request_user = getattr(request, "user", None)
        if request_user is not None and request_user.is_authenticated:
            user = request_user
    if user is not None and not username:
        username = user.get_username()
    if not username and request is None:
        username = command_line_user()
    event = AuditEvent.objects.create(
        action=action,
        user=user,
        username=username[:150],
        ip=client_ip(request),
        tenant=tenant,
        tenant_slug=tenant.slug if tenant is not None else tenant_slug,
        details=details,
    )
    logger.info(
        "audit %s user=%s tenant=%s ip=%s",
        action,
        event.username or "-",
        event.tenant_slug or "-",
        event.ip or "-",
    )
    return event


def command_line_user() -> str:
    """Who ran a management command, as far as the operating system knows."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


@receiver(user_logged_in)
def _record_login(sender, request, user, **kwargs) -> None:
    record_event(Action.LOGIN, request=request, user=user)


@receiver(user_logged_out)
def _record_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record_event(Action.LOGOUT, request=request, user=user)


@receiver(user_login_failed)
def _record_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # Django masks the password in `credentials`; only the user name is kept.
    record_event(
        Action.LOGIN_FAILED, request=request, username=str(credentials.get("username") or "")
    )


@receiver(user_locked_out)
def _record_lockout(sender, request, username=None, ip_address=None, **kwargs) -> None:
    record_event(Action.LOCKOUT, request=request, username=str(username or ""))
