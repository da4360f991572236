from django.conf import settings
from django.db import models
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from groups import encryption
from groups.nxcloud import DEFAULT_API_URL, PnsClient
from groups.phones import SUPPORTED_REGIONS


class Tenant(models.Model):
    """One NXCloud account we run PNS on, with its credentials.

    The access secret is stored only as a Fernet token (`groups.encryption`) and decrypted
    only at the moment a request to NXCloud is signed.
    """

    class Algorithm(models.TextChoices):
        MD5 = "md5", "MD5"
        SHA256 = "sha256", "SHA-256"

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(
        _("slug"),
        max_length=50,
        unique=True,
        help_text=_("Short name used in URLs, e.g. hk-hotline."),
    )
    api_url = models.URLField(
        _("API URL"),
        max_length=300,
        default=DEFAULT_API_URL,
        help_text=_("NXCloud's PNS endpoint."),
    )
    access_key = models.CharField(_("access key"), max_length=100)
    access_secret_token = models.TextField(blank=True, editable=False)
    secret_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    algorithm = models.CharField(
        _("signing algorithm"), max_length=10, choices=Algorithm.choices, default=Algorithm.MD5
    )
    default_region = models.CharField(
        _("default region"),
        max_length=2,
        blank=True,
        choices=[(region, region) for region in SUPPORTED_REGIONS],
        help_text=_("Where national numbers typed without a country code belong, e.g. HK."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive tenants are hidden from pages and search.")
    )
    notes = models.TextField(_("notes"), blank=True)
    current_snapshot = models.ForeignKey(
        "Snapshot",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
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
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        permissions = [
            ("view_all_tenants", "Can see every tenant without a grant"),
            ("export_numbers", "Can download CSV and Excel exports"),
            ("manage_groups", "Can create, change and delete number groups in NXCloud"),
            ("view_full_numbers", "Can see phone numbers unmasked (each reveal is audited)"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tenant_detail", args=[self.slug])

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
        options.setdefault("backoff_seconds", settings.PNS_RETRY_BACKOFF)
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
        verbose_name = _("tenant access")
        verbose_name_plural = _("tenant access")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant}"


class AuditEvent(models.Model):
    """Who did what, when, from where. Never holds a secret's value."""

    class Action(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOGOUT = "logout", _("Logged out")
        LOCKOUT = "lockout", _("Locked out")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        TENANT_CREATED = "tenant_created", _("Tenant created")
        TENANT_CHANGED = "tenant_changed", _("Tenant changed")
        TENANT_REMOVED = "tenant_removed", _("Tenant removed")
        CREDENTIAL_CHANGED = "credential_changed", _("Credential changed")
        CONNECTION_TESTED = "connection_tested", _("Connection tested")
        ACCESS_GRANTED = "access_granted", _("Access granted")
        ACCESS_REVOKED = "access_revoked", _("Access revoked")
        KEYS_ROTATED = "keys_rotated", _("Encryption keys rotated")
        REFRESH_REQUESTED = "refresh_requested", _("Refresh requested")
        SEARCH = "search", _("Searched numbers")
        EXPORT = "export", _("Exported")
        GROUP_CREATED = "group_created", _("Number group created")
        GROUP_NUMBERS_CHANGED = "group_numbers_changed", _("Numbers of a group changed")
        GROUP_DELETED = "group_deleted", _("Number group deleted")
        TWO_FACTOR_ENABLED = "2fa_enabled", _("Two-factor login turned on")
        TWO_FACTOR_DISABLED = "2fa_disabled", _("Two-factor login turned off")
        TWO_FACTOR_FAILED = "2fa_failed", _("Wrong two-factor code")
        RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
        NUMBER_REVEALED = "number_revealed", _("Full number shown")

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    username = models.CharField(
        _("user name"),
        max_length=150,
        blank=True,
        help_text=_("As typed or as it was; kept if the user goes."),
    )
    ip = models.GenericIPAddressField(_("source IP"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=Action.choices, db_index=True)
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tenant"),
    )
    tenant_slug = models.CharField(_("tenant slug"), max_length=50, blank=True, db_index=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["action", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action}"


FIRST_VISIT_BY = "first visit by "


class SyncRun(models.Model):
    """One refresh of a tenant's snapshot from NXCloud: who asked, how it went, how long."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        OK = "ok", _("OK")
        FAILED = "failed", _("Failed")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(
        max_length=150, help_text="Who or what asked: a user name, cli:NAME, first visit …"
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # When it was asked for; when a task worker began it, for a run that was queued first.
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped while the run works; a running run whose heartbeat stopped is a dead one.
    heartbeat_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    groups = models.PositiveIntegerField(null=True, blank=True)
    numbers = models.PositiveIntegerField(null=True, blank=True)
    pages_done = models.PositiveIntegerField(default=0)
    pages_total = models.PositiveIntegerField(null=True, blank=True)
    upstream_ms = models.PositiveIntegerField(null=True, blank=True)
    write_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "-started_at"])]
        constraints = [
            # The database itself refuses a second queued or running refresh of one tenant.
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_sync_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def trigger_display(self) -> str:
        """`trigger` for people, in their language (it is stored in English)."""
        if self.trigger in ("system", "scheduler"):
            return {"system": gettext("system"), "scheduler": gettext("scheduler")}[self.trigger]
        if self.trigger.startswith(FIRST_VISIT_BY):
            user = self.trigger.removeprefix(FIRST_VISIT_BY)
            return gettext("first visit by %(user)s") % {"user": user}
        return self.trigger

    @property
    def is_active(self) -> bool:
        """Queued or running (it may still have died: see services.sync_run_is_stalled)."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class Snapshot(models.Model):
    """The copy of a tenant's groups one successful refresh wrote. Pages read the tenant's
    current snapshot; the previous one is kept until the next refresh, so a page that began
    on it can finish on it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="snapshots")
    sync_run = models.OneToOneField(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="snapshot"
    )
    taken_at = models.DateTimeField(default=timezone.now)
    group_count = models.PositiveIntegerField(default=0)
    phone_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"{self.tenant} @ {self.taken_at:%Y-%m-%d %H:%M:%S}"


class NumberGroup(models.Model):
    """A G number group as a snapshot saw it. Text fields are unbounded: NXCloud decides
    their length, and a refresh must not fail on a long name."""

    # Rows are written and deleted in bulk by groups.services (COPY / executemany and one
    # DELETE per table), children first: hence DO_NOTHING instead of Django's cascade.
    # No database-level foreign keys on the snapshot tables: PostgreSQL checks deferred
    # constraints row by row at commit, which doubled the time of a million-row refresh.
    # groups.services writes and deletes these rows together, children first.
    snapshot = models.ForeignKey(
        Snapshot,
        on_delete=models.DO_NOTHING,
        related_name="groups",
        db_index=False,
        db_constraint=False,
    )
    position = models.PositiveIntegerField(help_text="Order in NXCloud's list.")
    group_id = models.TextField("groupId")
    name = models.TextField(blank=True)
    customer_id = models.TextField("customerId", blank=True)
    remark = models.TextField(blank=True)
    phone_count = models.PositiveIntegerField(default=0)
    phones_text = models.TextField(blank=True, help_text="The phones, comma-separated.")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "group_id"], name="one_group_id_per_snapshot"
            )
        ]
        # Few indexes on purpose: each one slows the refresh's bulk insert. Sorting a
        # snapshot's groups by count or customerId sorts in memory.
        indexes = [
            models.Index(fields=["snapshot", "position"]),
            models.Index(fields=["snapshot", "name"]),
        ]

    def __str__(self) -> str:
        return self.name or self.group_id

    @property
    def phones(self) -> list[str]:
        return [phone for phone in self.phones_text.split(",") if phone]


class PhoneNumber(models.Model):
    """One number of one group in one snapshot: what number search looks up.

    Search uses one index, on the digits reversed: "ends with" is a range scan on it, an
    exact match is equality on it, and "contains" scans it without touching the table. Rows
    are inserted in that index's order, which keeps a million-row refresh fast. A group's own
    page reads its numbers from `NumberGroup.phones_text`, so `group` needs no index.
    """

    snapshot = models.ForeignKey(
        Snapshot,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    group = models.ForeignKey(
        NumberGroup,
        on_delete=models.DO_NOTHING,
        related_name="numbers",
        db_index=False,
        db_constraint=False,
    )
    digits = models.TextField(help_text="Exactly as NXCloud sent them.")
    digits_reversed = models.TextField(help_text="The digits backwards, for number search.")
    e164 = models.CharField("E.164", max_length=20, blank=True)
    region = models.CharField(max_length=3, blank=True, help_text="ISO 3166 region code.")

    class Meta:
        indexes = [
            # Number search: digits first, so one probe serves every tenant's snapshot.
            models.Index(fields=["digits_reversed", "snapshot"]),
            # Deleting an old snapshot. Its keys only grow during a refresh: cheap to keep.
            models.Index(fields=["snapshot"]),
        ]

    def __str__(self) -> str:
        return self.digits


class GroupChange(models.Model):
    """One thing a refresh found changed in a tenant's groups since the snapshot before it:
    a group added, removed, renamed or with a new remark, a number added to or removed from
    a group. Kept for PNS_HISTORY_DAYS; the refresh's time is `at`."""

    class Kind(models.TextChoices):
        GROUP_ADDED = "group_added", _("group added")
        GROUP_REMOVED = "group_removed", _("group removed")
        RENAMED = "renamed", _("renamed")
        REMARK_CHANGED = "remark_changed", _("remark changed")
        NUMBER_ADDED = "number_added", _("number added")
        NUMBER_REMOVED = "number_removed", _("number removed")

    # No database constraints: rows are written in bulk with the snapshot (see PhoneNumber).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    sync_run = models.ForeignKey(
        SyncRun,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    group_id = models.TextField()
    group_name = models.TextField(help_text="The group's name then (the new one, if renamed).")
    digits = models.TextField(blank=True, help_text="The number, for number changes.")
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "-at"]),
            models.Index(fields=["tenant", "group_id", "-at"]),
            # "Was in group X until …": search looks removed numbers up by their digits.
            models.Index(
                fields=["digits"],
                condition=models.Q(kind="number_removed"),
                name="removed_number_digits",
            ),
            models.Index(fields=["at"]),  # pruning
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.group_id} {self.digits}".strip()


def snapshots_purge(snapshots: models.QuerySet) -> None:
    """Delete snapshots with their groups and numbers: one DELETE per table."""
    ids = list(snapshots.values_list("pk", flat=True))
    if ids:
        PhoneNumber.objects.filter(snapshot_id__in=ids).delete()
        NumberGroup.objects.filter(snapshot_id__in=ids).delete()
        Snapshot.objects.filter(pk__in=ids).delete()


@receiver(pre_delete, sender=Tenant)
def _purge_tenant_snapshots(sender, instance: Tenant, **kwargs) -> None:
    Tenant.objects.filter(pk=instance.pk).update(current_snapshot=None)
    snapshots_purge(Snapshot.objects.filter(tenant=instance))
