"""Reads: what the pages show. Every tenant here was found through `groups.access` first."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from groups.access import visible_tenants
from groups.models import NumberGroup, PhoneNumber, Snapshot, SyncRun, Tenant
from groups.phones import format_for_people, number_facts, region_name
from groups.services import sync_run_is_stalled

# The group list's sort keys: what a URL may say → the ordering it means.
GROUP_SORTS = {
    "name": ("name", "position"),
    "-name": ("-name", "position"),
    "group_id": ("group_id",),
    "-group_id": ("-group_id",),
    "customer_id": ("customer_id", "position"),
    "-customer_id": ("-customer_id", "position"),
    "count": ("phone_count", "position"),
    "-count": ("-phone_count", "position"),
    "position": ("position",),
}
DEFAULT_GROUP_SORT = "position"


@dataclass(frozen=True)
class Freshness:
    """How current a tenant's snapshot is, and what its refreshes are doing."""

    snapshot: Snapshot | None
    latest_run: SyncRun | None

    @property
    def running(self) -> SyncRun | None:
        run = self.latest_run
        if run is not None and run.status == SyncRun.Status.RUNNING:
            return None if sync_run_is_stalled(run) else run
        return None

    @property
    def failure(self) -> SyncRun | None:
        """The latest refresh, when it failed (or its process died)."""
        run = self.latest_run
        if run is None:
            return None
        if run.status == SyncRun.Status.FAILED or sync_run_is_stalled(run):
            return run
        return None

    @property
    def updated_at(self) -> datetime | None:
        return self.snapshot.taken_at if self.snapshot else None

    @property
    def age(self) -> timedelta | None:
        return timezone.now() - self.snapshot.taken_at if self.snapshot else None

    @property
    def is_stale(self) -> bool:
        return self.snapshot is not None and self.age > settings.PNS_STALE_AFTER

    @property
    def problem_at(self) -> datetime | None:
        """When something went wrong, for sorting problems first; None when all is well."""
        if self.failure is not None:
            return self.failure.finished_at or self.failure.heartbeat_at
        if self.is_stale:
            return self.snapshot.taken_at + settings.PNS_STALE_AFTER
        return None


def tenant_freshness(tenant: Tenant) -> Freshness:
    snapshot = (
        Snapshot.objects.filter(pk=tenant.current_snapshot_id).first()
        if tenant.current_snapshot_id
        else None
    )
    latest = tenant.sync_runs.order_by("-started_at", "-pk").first()
    return Freshness(snapshot=snapshot, latest_run=latest)


@dataclass(frozen=True)
class OverviewRow:
    tenant: Tenant
    freshness: Freshness


def tenant_overview(user) -> list[OverviewRow]:
    """The tenants `user` may see, newest problems first, then by name."""
    rows = [
        OverviewRow(tenant, tenant_freshness(tenant))
        for tenant in visible_tenants(user).select_related("current_snapshot")
    ]
    with_problems = sorted(
        (row for row in rows if row.freshness.problem_at is not None),
        key=lambda row: row.freshness.problem_at,
        reverse=True,
    )
    healthy = [row for row in rows if row.freshness.problem_at is None]
    return with_problems + healthy


def groups_matching(*, snapshot: Snapshot, text: str = "", sort: str = "") -> QuerySet:
    """A snapshot's groups whose name, groupId, customerId or remark contains `text`, or one
    of whose numbers contains its digits (three or more)."""
    groups = NumberGroup.objects.filter(snapshot=snapshot)
    text = text.strip()
    if text:
        condition = (
            Q(name__icontains=text)
            | Q(group_id__icontains=text)
            | Q(customer_id__icontains=text)
            | Q(remark__icontains=text)
        )
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 3:
            holding = PhoneNumber.objects.filter(snapshot=snapshot, digits__contains=digits)
            condition |= Q(pk__in=holding.values("group_id"))
        groups = groups.filter(condition)
    return groups.order_by(*GROUP_SORTS.get(sort, GROUP_SORTS[DEFAULT_GROUP_SORT]))


def group_in_snapshot(*, snapshot: Snapshot | None, group_id: str) -> NumberGroup:
    if snapshot is None:
        raise Http404("This tenant has no snapshot yet.")
    group = NumberGroup.objects.filter(snapshot=snapshot, group_id=group_id).first()
    if group is None:
        raise Http404("No such group.")
    return group


@dataclass(frozen=True)
class NumberRow:
    digits: str
    formatted: str
    region: str
    e164: str


def numbers_of_group(group: NumberGroup) -> list[NumberRow]:
    rows = []
    for digits in group.phones:
        e164, region = number_facts(digits)
        rows.append(NumberRow(digits, format_for_people(digits), region, e164))
    return rows


def region_counts(numbers: list[NumberRow]) -> list[tuple[str, int]]:
    """(region for people, count), most numbers first."""
    counts = Counter(number.region for number in numbers)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(region_name(region), count) for region, count in ordered]


def sync_history(tenant: Tenant) -> QuerySet:
    return tenant.sync_runs.select_related("triggered_by").order_by("-started_at", "-pk")
