"""Writes: tenants and their credentials, connection tests, access grants, key rotation.

The admin, the management commands and the views all come through here, so every change is
validated the same way and lands in the audit log.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from groups import encryption, nxcloud
from groups.audit import record_event
from groups.encryption import SecretUnreadable
from groups.models import (
    AuditEvent,
    GroupChange,
    NumberGroup,
    PhoneNumber,
    Snapshot,
    SyncRun,
    Tenant,
    TenantMembership,
    snapshots_purge,
)
from groups.nxcloud import PnsApiError, PnsClient, PnsError
from groups.phones import regions_of

logger = logging.getLogger(__name__)

Action = AuditEvent.Action

# Fields whose changes the audit log shows with their values.
AUDITED_FIELDS = ("name", "slug", "default_region", "api_url", "algorithm", "is_active", "notes")


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
        # A message, not a password.
        raise ValidationError({"access_secret": "An access secret is required."})  # nosec B105
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
        message = ngettext("OK — %(count)s group", "OK — %(count)s groups", total) % {
            "count": f"{total:,}"
        }
        result = ConnectionTestResult(ok=True, message=message, group_count=total)
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
        # "" is "no secret set", not a password.
        with_secrets = Tenant.objects.exclude(access_secret_token="")  # nosec B106
        tenants = list(with_secrets.select_for_update())
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


# --- refreshing a tenant's snapshot ---------------------------------------------------------

ProgressCallback = Callable[[int, int], None]


class RefreshFailed(Exception):
    """Raised by `sync_tenant(..., raise_on_failure=True)`; carries the failed run."""

    def __init__(self, run: SyncRun):
        self.run = run
        super().__init__(run.error_message)


def sync_tenant(
    tenant: Tenant,
    progress: ProgressCallback | None = None,
    *,
    trigger: str = "",
    user: Any = None,
    wait_seconds: float = 600,
) -> SyncRun:
    """Refresh `tenant`'s snapshot from NXCloud now and return the finished run.

    When a refresh of this tenant is already under way (in any process), no second read
    starts: this waits for that one, up to `wait_seconds`, and returns it.
    """
    run, started = sync_claim(tenant=tenant, trigger=trigger, user=user)
    if started:
        return sync_execute(run, progress)
    return sync_wait(run, timeout=wait_seconds)


ACTIVE_STATUSES = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


def sync_claim(
    *, tenant: Tenant, trigger: str = "", user: Any = None, queued: bool = False
) -> tuple[SyncRun, bool]:
    """Start a refresh run for `tenant` (running now, or `queued` for a task worker), or find
    the one already queued or running: (run, started).

    The claim is serialized per tenant by the database (a row lock on PostgreSQL, the writer
    lock on SQLite, and a unique constraint on active runs everywhere). An active run whose
    process died, or that no worker took, is marked failed and replaced.
    """
    trigger = trigger or (user.get_username() if user is not None else "system")
    asked_at = timezone.now()
    try:
        with transaction.atomic():
            Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
            latest = SyncRun.objects.filter(tenant=tenant).order_by("-started_at", "-pk").first()
            if latest is not None and latest.is_active:
                if not sync_run_is_stalled(latest):
                    return latest, False
                _fail_stalled(latest)
            elif latest is not None and latest.finished_at and latest.finished_at >= asked_at:
                # It finished while we waited for the lock: that read answers this request.
                return latest, False
            run = SyncRun.objects.create(
                tenant=tenant,
                trigger=trigger[:150],
                triggered_by=user,
                status=SyncRun.Status.QUEUED if queued else SyncRun.Status.RUNNING,
            )
    except IntegrityError:
        # Another process claimed it between our check and our insert.
        active = SyncRun.objects.get(tenant=tenant, status__in=ACTIVE_STATUSES)
        return active, False
    return run, True


def sync_run_is_stalled(run: SyncRun) -> bool:
    """A running run whose heartbeat stopped (its process died or hangs), or a queued run no
    task worker started in time."""
    now = timezone.now()
    if run.status == SyncRun.Status.RUNNING:
        return run.heartbeat_at < now - timedelta(seconds=settings.PNS_SYNC_HEARTBEAT_TIMEOUT)
    if run.status == SyncRun.Status.QUEUED:
        return run.started_at < now - settings.PNS_QUEUE_TIMEOUT
    return False


def stalled_run_message(run: SyncRun) -> str:
    """Why a stalled run (see sync_run_is_stalled) was given up."""
    if run.status == SyncRun.Status.QUEUED:
        minutes = int(settings.PNS_QUEUE_TIMEOUT.total_seconds() // 60)
        return gettext(
            "No task worker started this refresh within %(minutes)s minutes, so it was "
            "abandoned. Is the worker (manage.py db_worker) running? The previous snapshot "
            "was kept."
        ) % {"minutes": minutes}
    return gettext(
        "This refresh stopped answering (its process was stopped or restarted) and was "
        "abandoned. The previous snapshot was kept."
    )


def _fail_stalled(run: SyncRun) -> None:
    run.error_message = stalled_run_message(run)
    if run.status == SyncRun.Status.QUEUED:
        run.finished_at = timezone.now()
    else:
        run.finished_at = run.heartbeat_at
    run.status = SyncRun.Status.FAILED
    run.save(update_fields=["status", "finished_at", "error_message"])
    logger.warning("sync %s: run %s stalled; marked failed", run.tenant.slug, run.pk)


def sync_wait(run: SyncRun, *, timeout: float = 600, poll_seconds: float = 0.5) -> SyncRun:
    """Wait for a run (of another thread or process) to finish; returns it as it is then."""
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if not run.is_active or sync_run_is_stalled(run):
            return run
        if time.monotonic() >= deadline:
            return run
        time.sleep(poll_seconds)


def sync_execute_queued(run_pk: int) -> str:
    """Do a queued run (the refresh task): mark it running, then execute it. Returns the
    run's final status, or "skipped" when it is no longer queued (abandoned meanwhile)."""
    now = timezone.now()
    begun = SyncRun.objects.filter(pk=run_pk, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not begun:
        logger.info("sync run %s: no longer queued; skipped", run_pk)
        return "skipped"
    run = SyncRun.objects.select_related("tenant").get(pk=run_pk)
    try:
        return sync_execute(run).status
    except Exception as error:
        SyncRun.objects.filter(pk=run_pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error_message=f"The refresh failed unexpectedly ({type(error).__name__}); the "
            "previous snapshot was kept. The error is in the server log.",
        )
        raise


def sync_execute(run: SyncRun, progress: ProgressCallback | None = None) -> SyncRun:
    """Do a claimed run: read every group from NXCloud, then replace the snapshot.

    The new snapshot and the run's success are committed together; on any failure the
    previous snapshot stays current and the run records the explained error.
    """
    tenant = run.tenant
    heartbeat = _Heartbeat(run, progress)
    started = time.monotonic()
    try:
        with tenant.pns_client() as client:
            groups = client.list_groups(progress=heartbeat)
    except (PnsError, SecretUnreadable) as error:
        return _finish_failed(run, error, upstream_started=started)
    upstream_ms = _ms_since(started)

    heartbeat.beat(force=True)
    write_started = time.monotonic()
    try:
        with transaction.atomic():
            previous_id = (
                Tenant.objects.filter(pk=tenant.pk).values_list("current_snapshot", flat=True)
            ).first()
            snapshot = _write_snapshot(tenant, run, groups)
            if previous_id is not None:
                history_started = time.monotonic()
                changes = _record_changes(tenant, run, previous_id, snapshot)
                logger.info(
                    "sync %s: %d changes since the previous snapshot (%d ms)",
                    tenant.slug,
                    changes,
                    _ms_since(history_started),
                )
            Tenant.objects.filter(pk=tenant.pk).update(current_snapshot=snapshot)
            run.status = SyncRun.Status.OK
            run.finished_at = timezone.now()
            run.groups = snapshot.group_count
            run.numbers = snapshot.phone_count
            run.upstream_ms = upstream_ms
            run.write_ms = _ms_since(write_started)
            run.save()
    except DatabaseError as error:
        logger.exception("sync %s: writing the snapshot failed", tenant.slug)
        run.upstream_ms = upstream_ms
        return _finish_failed(run, error, upstream_started=None)
    tenant.current_snapshot = snapshot

    # Keep the current snapshot and the one before it (a page may still be reading that).
    snapshots_purge(tenant.snapshots.order_by("-taken_at", "-pk")[2:])
    logger.info(
        "sync %s: %d groups, %d numbers, %d pages, upstream %d ms, write %d ms",
        tenant.slug,
        run.groups,
        run.numbers,
        run.pages_done,
        run.upstream_ms,
        run.write_ms,
    )
    return run


def _finish_failed(run: SyncRun, error: Exception, *, upstream_started: float | None) -> SyncRun:
    run.status = SyncRun.Status.FAILED
    run.finished_at = timezone.now()
    if upstream_started is not None:
        run.upstream_ms = _ms_since(upstream_started)
    if isinstance(error, PnsApiError):
        run.error_code = error.code
    if isinstance(error, PnsError):
        run.request_id = error.request_id or ""
        run.error_message = str(error)
    elif isinstance(error, DatabaseError):
        run.error_message = (
            f"Saving the new snapshot failed ({type(error).__name__}); the previous snapshot "
            "was kept. Try again; if it keeps failing, tell an administrator."
        )
    else:
        run.error_message = str(error)
    run.save()
    logger.warning("sync %s failed: %s", run.tenant.slug, run.error_message)
    return run


class _Heartbeat:
    """The progress callback: records pages read and proves the run is alive."""

    def __init__(self, run: SyncRun, progress: ProgressCallback | None):
        self.run = run
        self.progress = progress
        self.last_beat = 0.0

    def __call__(self, pages_done: int, pages_total: int) -> None:
        self.run.pages_done, self.run.pages_total = pages_done, pages_total
        self.beat(force=pages_done in (1, pages_total))
        if self.progress is not None:
            self.progress(pages_done, pages_total)

    def beat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_beat < 0.5:
            return
        self.last_beat = now
        try:
            SyncRun.objects.filter(pk=self.run.pk).update(
                pages_done=self.run.pages_done,
                pages_total=self.run.pages_total,
                heartbeat_at=timezone.now(),
            )
        except OperationalError:
            # SQLite busy with another tenant's write: the next beat will do.
            logger.debug("sync %s: heartbeat skipped (database busy)", self.run.tenant.slug)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _write_snapshot(tenant: Tenant, run: SyncRun, groups: list[nxcloud.NumberGroup]) -> Snapshot:
    """Insert a new snapshot's groups and numbers in bulk (COPY on PostgreSQL, executemany
    on SQLite); the caller's transaction makes it current."""
    snapshot = Snapshot.objects.create(
        tenant=tenant,
        sync_run=run,
        group_count=len(groups),
        phone_count=sum(len(group.phones) for group in groups),
    )
    text = _storable_text
    bulk_insert(
        NumberGroup,
        [
            "snapshot",
            "position",
            "group_id",
            "name",
            "customer_id",
            "remark",
            "phone_count",
            "phones_text",
        ],
        (
            (
                snapshot.pk,
                position,
                text(group.group_id),
                text(group.name),
                text(group.customer_id),
                text(group.remark),
                len(group.phones),
                text(nxcloud.join_phones(group.phones)),
            )
            for position, group in enumerate(groups)
        ),
    )
    group_pks = dict(NumberGroup.objects.filter(snapshot=snapshot).values_list("position", "pk"))
    snapshot_pk = snapshot.pk

    def number_rows():
        for position, group in enumerate(groups):
            group_pk = group_pks[position]
            phones = group.phones
            for digits, region in zip(phones, regions_of(phones), strict=True):
                if region is None:
                    digits = _storable_text(digits)
                    yield (snapshot_pk, group_pk, digits, digits[::-1], "", "")
                else:
                    yield (snapshot_pk, group_pk, digits, digits[::-1], "+" + digits, region)

    # In the search index's order: appending to a B-tree is far cheaper than random inserts.
    bulk_insert(
        PhoneNumber,
        ["snapshot", "group", "digits", "digits_reversed", "e164", "region"],
        sorted(number_rows(), key=itemgetter(3)),
    )
    return snapshot


def _record_changes(tenant: Tenant, run: SyncRun, previous_id: int, snapshot: Snapshot) -> int:
    """Write what changed between two snapshots of `tenant` as GroupChange rows; returns how
    many. The database compares the groups (one join on group id); only groups that differ
    come back here to have their numbers compared."""
    table = connection.ops.quote_name(NumberGroup._meta.db_table)
    at = connection.ops.adapt_datetimefield_value(timezone.now())
    Kind = GroupChange.Kind
    rows: list[tuple] = []

    def change(kind, group_id, name, digits="", old="", new=""):
        rows.append((tenant.pk, run.pk, at, kind, group_id, name, digits, old, new))

    # Only table names and our own integers go into the SQL text.
    columns = "n.group_id, n.name, n.remark, n.phones_text"
    changed = (
        f"SELECT {columns}, o.name, o.remark, o.phones_text FROM {table} n "  # noqa: S608  # nosec B608
        f"JOIN {table} o ON o.group_id = n.group_id AND o.snapshot_id = %s "
        "WHERE n.snapshot_id = %s AND (n.phones_text <> o.phones_text OR n.name <> o.name "
        "OR n.remark <> o.remark)"
    )
    only_in = (
        f"SELECT {columns} FROM {table} n WHERE n.snapshot_id = %s AND NOT EXISTS "  # noqa: S608  # nosec B608
        f"(SELECT 1 FROM {table} o WHERE o.snapshot_id = %s AND o.group_id = n.group_id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(only_in, [snapshot.pk, previous_id])
        for group_id, name, _, phones_text in cursor.fetchall():
            change(Kind.GROUP_ADDED, group_id, name)
            for digits in nxcloud.split_phones(phones_text):
                change(Kind.NUMBER_ADDED, group_id, name, digits)
        cursor.execute(only_in, [previous_id, snapshot.pk])
        for group_id, name, _, phones_text in cursor.fetchall():
            change(Kind.GROUP_REMOVED, group_id, name)
            for digits in nxcloud.split_phones(phones_text):
                change(Kind.NUMBER_REMOVED, group_id, name, digits)
        cursor.execute(changed, [previous_id, snapshot.pk])
        for group_id, name, remark, phones, old_name, old_remark, old_phones in cursor.fetchall():
            if name != old_name:
                change(Kind.RENAMED, group_id, name, old=old_name, new=name)
            if remark != old_remark:
                change(Kind.REMARK_CHANGED, group_id, name, old=old_remark, new=remark)
            now_in, was_in = (
                set(nxcloud.split_phones(phones)),
                set(nxcloud.split_phones(old_phones)),
            )
            for digits in sorted(now_in - was_in):
                change(Kind.NUMBER_ADDED, group_id, name, digits)
            for digits in sorted(was_in - now_in):
                change(Kind.NUMBER_REMOVED, group_id, name, digits)
    bulk_insert(
        GroupChange,
        ["tenant", "sync_run", "at", "kind", "group_id", "group_name", "digits", "old_value",
         "new_value"],
        rows,
    )  # fmt: skip
    return len(rows)


def _storable_text(value: str) -> str:
    # PostgreSQL refuses NUL in text; NXCloud has no business sending one.
    return value.replace("\x00", "") if "\x00" in value else value


BULK_BATCH_ROWS = 20_000


def bulk_insert(model: type, fields: list[str], rows: Iterable[tuple]) -> None:
    """Insert many rows fast, without model instances: PostgreSQL's COPY, else batched
    executemany. Runs on the default connection, inside the caller's transaction."""
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(connection.ops.quote_name(meta.get_field(f).column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(fields))
        # Table and column names come from the model, quoted; values are parameters.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608  # nosec
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == BULK_BATCH_ROWS:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def refresh_start(
    *, tenant: Tenant, user: Any = None, trigger: str = "", request: HttpRequest | None = None
) -> tuple[SyncRun, bool]:
    """Ask for a refresh from a page or the scheduler: a queued run, done by the refresh task
    (settings.TASKS: a worker, a thread, or right now). Returns (run as it is now, started)."""
    from groups.tasks import refresh_tenant

    run, started = sync_claim(tenant=tenant, trigger=trigger, user=user, queued=True)
    if not started:
        return run, False
    record_event(
        Action.REFRESH_REQUESTED, request=request, user=user, tenant=tenant, trigger=run.trigger
    )
    try:
        refresh_tenant.enqueue(run.pk)
    except Exception as error:
        logger.exception("sync %s: queueing the refresh failed", tenant.slug)
        _finish_failed(run, error, upstream_started=None)
        run.error_message = (
            f"The refresh could not be queued ({type(error).__name__}); the previous snapshot "
            "was kept. The error is in the server log."
        )
        run.save(update_fields=["error_message"])
    run.refresh_from_db()
    return run, True


def history_prune() -> int:
    """Delete number history older than PNS_HISTORY_DAYS; returns how many rows."""
    cutoff = timezone.now() - timedelta(days=settings.PNS_HISTORY_DAYS)
    deleted, _ = GroupChange.objects.filter(at__lt=cutoff).delete()
    return deleted


def refresh_scheduled() -> list[SyncRun]:
    """Start the refreshes the schedule says are due (selectors.refresh_schedule), after
    pruning old number history; returns the runs started. Safe to run from several
    processes: claims are per tenant."""
    from groups.selectors import refresh_schedule

    history_prune()
    now = timezone.now()
    started_runs = []
    for entry in refresh_schedule():
        if entry.due_at is None or entry.due_at > now:
            continue
        run, started = refresh_start(tenant=entry.tenant, trigger="scheduler")
        if started:
            started_runs.append(run)
    return started_runs


# --- managing groups in NXCloud (createGroup, updateGroup, deleteGroup) -------------------------


class GroupChangeRefused(Exception):
    """NXCloud refused a change (or could not be reached); nothing changed locally."""

    def __init__(self, error: PnsError):
        self.error = error
        super().__init__(str(error))


def group_create(
    *, tenant: Tenant, name: str, remark: str, numbers: list[str], user: Any, request=None
) -> NumberGroup:
    """Create a group in NXCloud, then add it to the tenant's current snapshot."""
    group_id, request_id = _change_in_nxcloud(
        tenant, lambda client: client.create_group(numbers, name=name, remark=remark)
    )
    with transaction.atomic():
        snapshot = _locked_current_snapshot(tenant)
        position = (
            NumberGroup.objects.filter(snapshot=snapshot).order_by("-position")
            .values_list("position", flat=True).first()
        )  # fmt: skip
        group = NumberGroup.objects.create(
            snapshot=snapshot,
            position=0 if position is None else position + 1,
            group_id=group_id,
            name=name,
            remark=remark,
            phone_count=len(numbers),
            phones_text=nxcloud.join_phones(numbers),
        )
        _insert_numbers(snapshot, group, numbers)
        Snapshot.objects.filter(pk=snapshot.pk).update(
            group_count=F("group_count") + 1, phone_count=F("phone_count") + len(numbers)
        )
        changes = [(GroupChange.Kind.GROUP_ADDED, "")]
        changes += [(GroupChange.Kind.NUMBER_ADDED, digits) for digits in numbers]
        _record_edit(tenant, group, changes)
    record_event(
        Action.GROUP_CREATED, request=request, user=user, tenant=tenant, group_id=group_id,
        name=name, numbers=len(numbers), request_id=request_id,
    )  # fmt: skip
    return group


def group_change_numbers(
    *,
    tenant: Tenant,
    group: NumberGroup,
    operation: nxcloud.OperateType,
    numbers: list[str],
    user: Any,
    request=None,
) -> tuple[list[str], list[str]]:
    """Add, remove or replace a group's numbers in NXCloud, then in the current snapshot.
    Returns the numbers (added, removed)."""
    _, request_id = _change_in_nxcloud(
        tenant, lambda client: client.update_group(group.group_id, operation, numbers)
    )
    with transaction.atomic():
        snapshot = _locked_current_snapshot(tenant)
        group = NumberGroup.objects.get(snapshot=snapshot, group_id=group.group_id)
        # From the group as the locked snapshot holds it: a refresh may have replaced the
        # snapshot the caller read.
        current = list(nxcloud.split_phones(group.phones_text))
        added, removed, after = numbers_change(current, operation, numbers)
        PhoneNumber.objects.filter(group=group, digits__in=removed).delete()
        _insert_numbers(snapshot, group, added)
        NumberGroup.objects.filter(pk=group.pk).update(
            phone_count=len(after), phones_text=nxcloud.join_phones(after)
        )
        Snapshot.objects.filter(pk=snapshot.pk).update(
            phone_count=F("phone_count") + len(added) - len(removed)
        )
        changes = [(GroupChange.Kind.NUMBER_ADDED, digits) for digits in added]
        changes += [(GroupChange.Kind.NUMBER_REMOVED, digits) for digits in removed]
        _record_edit(tenant, group, changes)
    record_event(
        Action.GROUP_NUMBERS_CHANGED, request=request, user=user, tenant=tenant,
        group_id=group.group_id, operation=operation.name.lower(), added=len(added),
        removed=len(removed), request_id=request_id,
    )  # fmt: skip
    return added, removed


def numbers_change(
    current: list[str], operation: nxcloud.OperateType, numbers: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """What an updateGroup does to a group's numbers: (added, removed, numbers after)."""
    present = set(current)
    if operation == nxcloud.OperateType.ADD:
        added = [n for n in numbers if n not in present]
        return added, [], current + added
    if operation == nxcloud.OperateType.DELETE:
        dropped = set(numbers)
        return [], [n for n in current if n in dropped], [n for n in current if n not in dropped]
    wanted = set(numbers)
    added = [n for n in numbers if n not in present]
    return added, [n for n in current if n not in wanted], list(numbers)


def group_delete(*, tenant: Tenant, group: NumberGroup, user: Any, request=None) -> None:
    """Delete a group in NXCloud, then from the current snapshot."""
    _, request_id = _change_in_nxcloud(tenant, lambda client: client.delete_group(group.group_id))
    with transaction.atomic():
        snapshot = _locked_current_snapshot(tenant)
        group = NumberGroup.objects.get(snapshot=snapshot, group_id=group.group_id)
        numbers = list(nxcloud.split_phones(group.phones_text))
        PhoneNumber.objects.filter(group=group).delete()
        NumberGroup.objects.filter(pk=group.pk).delete()
        Snapshot.objects.filter(pk=snapshot.pk).update(
            group_count=F("group_count") - 1, phone_count=F("phone_count") - len(numbers)
        )
        changes = [(GroupChange.Kind.GROUP_REMOVED, "")]
        changes += [(GroupChange.Kind.NUMBER_REMOVED, digits) for digits in numbers]
        _record_edit(tenant, group, changes)
    record_event(
        Action.GROUP_DELETED, request=request, user=user, tenant=tenant,
        group_id=group.group_id, name=group.name, numbers=len(numbers), request_id=request_id,
    )  # fmt: skip


def _change_in_nxcloud(tenant: Tenant, change: Callable[[PnsClient], Any]) -> tuple[Any, str]:
    """Run `change` with the tenant's client: (its result, NXCloud's requestId). A refusal,
    or no answer, is GroupChangeRefused."""
    with tenant.pns_client() as client:
        try:
            result = change(client)
        except PnsError as error:
            raise GroupChangeRefused(error) from error
        return result, client.last_request_id or ""


def _locked_current_snapshot(tenant: Tenant) -> Snapshot:
    """The tenant's current snapshot, with the tenant row locked: a refresh cannot swap the
    snapshot under an edit."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    return Snapshot.objects.get(pk=locked.current_snapshot_id)


def _insert_numbers(snapshot: Snapshot, group: NumberGroup, numbers: list[str]) -> None:
    bulk_insert(
        PhoneNumber,
        ["snapshot", "group", "digits", "digits_reversed", "e164", "region"],
        (
            (snapshot.pk, group.pk, digits, digits[::-1], "+" + digits, region or "")
            for digits, region in zip(numbers, regions_of(numbers), strict=True)
        ),
    )


def _record_edit(tenant: Tenant, group: NumberGroup, changes: list[tuple[str, str]]) -> None:
    at = timezone.now()
    GroupChange.objects.bulk_create(
        GroupChange(
            tenant=tenant, at=at, kind=kind, group_id=group.group_id, group_name=group.name,
            digits=digits,
        )
        for kind, digits in changes
    )  # fmt: skip
