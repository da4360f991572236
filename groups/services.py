"""Writes: tenants and their credentials, connection tests, access grants, key rotation.

The admin, the management commands and the views all come through here, so every change is
validated the same way and lands in the audit log.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from groups import encryption
from groups.audit import record_event
from groups.encryption import SecretUnreadable
from groups.models import AuditEvent, Tenant, TenantMembership
from groups.nxcloud import PnsApiError, PnsError

Action = AuditEvent.Action

# Fields whose changes the audit log shows with their values.
AUDITED_FIELDS = ("name", "slug", "api_url", "algorithm", "is_active", "notes")


def tenant_save(
    *,
    tenant: Tenant,
    access_secret: str = "",
    request: HttpRequest | None = None,
    actor: Any = None,
) -> Tenant:
    """Create or update `tenant` (already carrying its new field values).

    A non-empty `access_secret` replaces the stored one; an empty one keeps it. Raises
    ValidationError (nothing saved) when a field is invalid or a new tenant has no secret.
    """
    creating = tenant.pk is None
    before = None if creating else Tenant.objects.filter(pk=tenant.pk).first()
    if access_secret:
        tenant.set_access_secret(access_secret)
    if not tenant.has_access_secret:
        raise ValidationError({"access_secret": "An access secret is required."})
    tenant.full_clean()

    with transaction.atomic():
        tenant.save()
        audit = {"request": request, "user": actor, "tenant": tenant}
        if creating:
            record_event(
                Action.TENANT_CREATED,
                **audit,
                fields={f: getattr(tenant, f) for f in AUDITED_FIELDS},
            )
            return tenant
        changes = {
            field: {"from": getattr(before, field), "to": getattr(tenant, field)}
            for field in AUDITED_FIELDS
            if before is not None and getattr(before, field) != getattr(tenant, field)
        }
        if changes:
            record_event(Action.TENANT_CHANGED, **audit, changes=changes)
        if before is not None and before.access_key != tenant.access_key:
            record_event(Action.CREDENTIAL_CHANGED, **audit, credential="access key")
        if access_secret:
            record_event(Action.CREDENTIAL_CHANGED, **audit, credential="access secret")
    return tenant


def tenant_remove(*, tenant: Tenant, request: HttpRequest | None = None, actor: Any = None) -> None:
    with transaction.atomic():
        record_event(
            Action.TENANT_REMOVED,
            request=request,
            user=actor,
            tenant_slug=tenant.slug,
            name=tenant.name,
        )
        tenant.delete()


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str
    group_count: int | None = None
    code: int | None = None
    request_id: str | None = None


def tenant_test_connection(
    *, tenant: Tenant, request: HttpRequest | None = None, actor: Any = None
) -> ConnectionTestResult:
    """Call listGroup with limit 1: "OK — N groups", or NXCloud's error explained."""
    try:
        with tenant.pns_client() as client:
            _, total = client.list_groups_page(1, 0)
    except PnsError as error:
        result = ConnectionTestResult(
            ok=False,
            message=str(error),
            code=error.code if isinstance(error, PnsApiError) else None,
            request_id=error.request_id,
        )
    except SecretUnreadable as error:
        result = ConnectionTestResult(ok=False, message=str(error))
    else:
        noun = "group" if total == 1 else "groups"
        result = ConnectionTestResult(ok=True, message=f"OK — {total:,} {noun}", group_count=total)
    record_event(
        Action.CONNECTION_TESTED,
        request=request,
        user=actor,
        tenant=tenant,
        ok=result.ok,
        groups=result.group_count,
        code=result.code,
        request_id=result.request_id,
    )
    return result


def access_grant(
    *,
    user: Any,
    tenants: Iterable[Tenant],
    request: HttpRequest | None = None,
    actor: Any = None,
) -> list[Tenant]:
    """Let `user` see `tenants`; returns the tenants newly granted."""
    granted = []
    with transaction.atomic():
        for tenant in tenants:
            _, created = TenantMembership.objects.get_or_create(
                user=user, tenant=tenant, defaults={"granted_by": actor}
            )
            if created:
                granted.append(tenant)
                record_event(
                    Action.ACCESS_GRANTED,
                    request=request,
                    user=actor,
                    tenant=tenant,
                    grantee=user.get_username(),
                )
    return granted


def access_revoke(
    *,
    user: Any,
    tenants: Iterable[Tenant],
    request: HttpRequest | None = None,
    actor: Any = None,
) -> list[Tenant]:
    """Stop `user` seeing `tenants` (unless a role lets them see all); returns those revoked."""
    revoked = []
    with transaction.atomic():
        for tenant in tenants:
            deleted, _ = TenantMembership.objects.filter(user=user, tenant=tenant).delete()
            if deleted:
                revoked.append(tenant)
                record_event(
                    Action.ACCESS_REVOKED,
                    request=request,
                    user=actor,
                    tenant=tenant,
                    grantee=user.get_username(),
                )
    return revoked


def secrets_rotate(*, actor: Any = None) -> int:
    """Re-encrypt every stored access secret with the newest key; returns how many.

    All or nothing: a secret no configured key can read stops the rotation unchanged.
    """
    with transaction.atomic():
        tenants = list(Tenant.objects.select_for_update().exclude(access_secret_token=""))
        for tenant in tenants:
            try:
                tenant.access_secret_token = encryption.rotate(tenant.access_secret_token)
            except SecretUnreadable:
                raise SecretUnreadable(
                    f"The access secret of tenant '{tenant.slug}' cannot be decrypted with any "
                    "configured key; nothing was rotated. Set that secret again, or add back the "
                    "key it was encrypted with."
                ) from None
            tenant.save(update_fields=["access_secret_token"])
        record_event(Action.KEYS_ROTATED, user=actor, tenants=len(tenants))
    return len(tenants)
