from django.conf import settings
from django.db import models
from django.utils import timezone

from groups import encryption
from groups.nxcloud import DEFAULT_API_URL, PnsClient


class Tenant(models.Model):
    """One NXCloud account we run PNS on, with its credentials.

    The access secret is stored only as a Fernet token (`groups.encryption`) and decrypted
    only at the moment a request to NXCloud is signed.
    """

    class Algorithm(models.TextChoices):
        MD5 = "md5", "MD5"
        SHA256 = "sha256", "SHA-256"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=50, unique=True, help_text="Short name used in URLs, e.g. hk-hotline."
    )
    api_url = models.URLField(
        "API URL",
        max_length=300,
        default=DEFAULT_API_URL,
        help_text="NXCloud's PNS endpoint.",
    )
    access_key = models.CharField(max_length=100)
    access_secret_token = models.TextField(blank=True, editable=False)
    secret_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    algorithm = models.CharField(
        "signing algorithm", max_length=10, choices=Algorithm.choices, default=Algorithm.MD5
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive tenants are hidden from pages and search."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="TenantMembership",
        through_fields=("tenant", "user"),
        related_name="pns_tenants",
        blank=True,
    )

    class Meta:
        ordering = ["name"]
        permissions = [("view_all_tenants", "Can see every tenant without a grant")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_access_secret(self) -> bool:
        return bool(self.access_secret_token)

    def set_access_secret(self, secret: str) -> None:
        self.access_secret_token = encryption.encrypt(secret)
        self.secret_changed_at = timezone.now()

    def decrypt_access_secret(self) -> str:
        return encryption.decrypt(self.access_secret_token)

    def pns_client(self, **options) -> PnsClient:
        """A client that decrypts the secret only when it signs a request."""
        options.setdefault("timeout", settings.PNS_TIMEOUT)
        options.setdefault("max_workers", settings.PNS_MAX_WORKERS)
        return PnsClient(
            self.api_url,
            self.access_key,
            self.decrypt_access_secret,
            algorithm=self.algorithm,
            **options,
        )


class TenantMembership(models.Model):
    """A user's grant to see one tenant (superusers and view_all_tenants holders need none)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user")
        ]
        ordering = ["tenant__name", "user__username"]
        verbose_name = "tenant access"
        verbose_name_plural = "tenant access"

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant}"


class AuditEvent(models.Model):
    """Who did what, when, from where. Never holds a secret's value."""

    class Action(models.TextChoices):
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logged out"
        LOCKOUT = "lockout", "Locked out"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        TENANT_CREATED = "tenant_created", "Tenant created"
        TENANT_CHANGED = "tenant_changed", "Tenant changed"
        TENANT_REMOVED = "tenant_removed", "Tenant removed"
        CREDENTIAL_CHANGED = "credential_changed", "Credential changed"
        CONNECTION_TESTED = "connection_tested", "Connection tested"
        ACCESS_GRANTED = "access_granted", "Access granted"
        ACCESS_REVOKED = "access_revoked", "Access revoked"
        KEYS_ROTATED = "keys_rotated", "Encryption keys rotated"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="As typed or as it was; kept if the user goes."
    )
    ip = models.GenericIPAddressField("source IP", null=True, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tenant_slug = models.CharField(max_length=50, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["action", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"
