"""Reads: what the pages show. Every tenant here was found through `groups.access` first."""

import operator
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import reduce
from itertools import repeat

from django.conf import settings
from django.db.models import BigIntegerField, Count, F, Func, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from groups.access import visible_tenants
from groups.models import GroupChange, NumberGroup, PhoneNumber, Snapshot, SyncRun, Tenant
from groups.nxcloud import ERROR_EXPLANATIONS, explain_api_error
from groups.phones import (
    MIN_SUFFIX_DIGITS,
    NumberQuery,
    format_for_people,
    format_in_region,
    number_facts,
    read_number,
    region_name,
    regions_of,
    split_entries,
)
from groups.privacy import mask_number, mask_number_list
from groups.services import stalled_run_message, sync_run_is_stalled

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
    def in_progress(self) -> SyncRun | None:
        """The latest refresh, while it is queued or running (and alive)."""
        run = self.latest_run
        if run is not None and run.is_active:
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
    def failure_message(self) -> str:
        failure = self.failure
        if failure is None:
            return ""
        if failure.error_code in ERROR_EXPLANATIONS:
            # The stored message is in the language of the refresh; this one is the reader's.
            said = f" ({failure.error_message})" if get_language() == "en" else ""
            return (
                gettext("NXCloud error %(code)s: %(explanation)s")
                % {
                    "code": failure.error_code,
                    "explanation": explain_api_error(failure.error_code),
                }
                + said
            )
        return failure.error_message or stalled_run_message(failure)

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


@dataclass(frozen=True)
class ScheduledRefresh:
    """When the scheduler will next refresh a tenant (None: one is under way)."""

    tenant: Tenant
    due_at: datetime | None
    failures_in_a_row: int


def refresh_schedule() -> list[ScheduledRefresh]:
    """Every active tenant with the time of its next scheduled refresh: when its snapshot
    turns PNS_REFRESH_INTERVAL old (at once when it has none); after failures in a row,
    the interval doubles with each (up to PNS_REFRESH_MAX_BACKOFF) from the last one."""
    schedule = []
    interval, longest = settings.PNS_REFRESH_INTERVAL, settings.PNS_REFRESH_MAX_BACKOFF
    for tenant in Tenant.objects.filter(is_active=True).select_related("current_snapshot"):
        recent = list(tenant.sync_runs.order_by("-started_at", "-pk")[:12])
        if recent and recent[0].is_active and not sync_run_is_stalled(recent[0]):
            schedule.append(ScheduledRefresh(tenant, None, 0))
            continue
        failures = 0
        for run in recent:
            if run.status == SyncRun.Status.OK:
                break
            failures += 1
        if failures:
            last = recent[0]
            wait = min(interval * 2 ** (failures - 1), longest)
            due_at = (last.finished_at or last.heartbeat_at) + wait
        elif tenant.current_snapshot is None:
            due_at = tenant.created_at  # never read: due since it was added
        else:
            due_at = tenant.current_snapshot.taken_at + interval
        schedule.append(ScheduledRefresh(tenant, due_at, failures))
    return schedule


def groups_matching(
    *, snapshot: Snapshot, text: str = "", sort: str = "", region: str = ""
) -> QuerySet:
    """A snapshot's groups whose name, groupId, customerId or remark contains `text`, or
    that hold a number `text` means (read as the search page reads it, in `region`)."""
    groups = NumberGroup.objects.filter(snapshot=snapshot)
    text = text.strip()
    if text:
        condition = (
            Q(name__icontains=text)
            | Q(group_id__icontains=text)
            | Q(customer_id__icontains=text)
            | Q(remark__icontains=text)
        )
        number = read_number(text)
        if number.understood:
            # The same reading of numbers as the search page: full numbers, or an ending.
            wanted = Q(digits_reversed__in=[d[::-1] for d in number.full_numbers(region)])
            if len(number.suffix) >= MIN_SUFFIX_DIGITS:
                wanted |= ends_with(number.suffix)
            holding = numbers_in_snapshots([snapshot.pk]).filter(wanted)
            condition |= Q(pk__in=holding.values("group_id"))
        groups = groups.filter(condition)
    return groups.order_by(*GROUP_SORTS.get(sort, GROUP_SORTS[DEFAULT_GROUP_SORT]))


def group_in_snapshot(*, snapshot: Snapshot | None, group_id: str) -> NumberGroup:
    if snapshot is None:
        raise Http404("This tenant has no snapshot yet.")
    if "\x00" in group_id:  # no group has one, and PostgreSQL refuses to look it up
        raise Http404("No such group.")
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


def group_changes(tenant: Tenant, group_id: str | None = None) -> QuerySet:
    """A tenant's number history (one group's, with `group_id`), newest first."""
    changes = GroupChange.objects.filter(tenant=tenant)
    if group_id is not None:
        changes = changes.filter(group_id=group_id)
    return changes.order_by("-at", "-pk")


def change_export_rows(tenant: Tenant, *, masked: bool = False) -> Iterator[tuple]:
    for change in group_changes(tenant).iterator(chunk_size=2000):
        yield (
            tenant.name,
            _iso(change.at),
            change.kind.replace("_", " "),  # "number removed": the same in every language
            change.group_id,
            change.group_name,
            mask_number(change.digits) if masked and change.digits else change.digits,
            change.old_value,
            change.new_value,
        )


def sync_history(tenant: Tenant) -> QuerySet:
    return tenant.sync_runs.select_related("triggered_by").order_by("-started_at", "-pk")


# --- number search --------------------------------------------------------------------------

MATCHES_SHOWN = 200
# What a match needs of a number and its group (not the group's long phones text).
MATCH_FIELDS = (
    "snapshot_id",
    "digits",
    "digits_reversed",
    "region",
    "group__group_id",
    "group__name",
)
# Parameters per IN (…) query: well under SQLite's limit of 32,766 variables.
LOOKUP_CHUNK = 500
# Ends-with lookups of this many digits or more are batched (a million numbers hold about
# one per 6-digit suffix); SUFFIX_CHUNK suffixes a query.
BATCHED_SUFFIX_DIGITS = 6
SUFFIX_CHUNK = 100


def numbers_in_snapshots(snapshot_ids: list[int]) -> QuerySet:
    """Phone numbers of these snapshots, for a search that names the digits.

    The snapshot condition is written `+snapshot_id`, which no index can serve: otherwise
    SQLite's planner may pick the snapshot index and scan every number of the snapshot
    instead of probing the digits index (a test checks the plans on both databases).
    """
    snapshot = Func(F("snapshot_id"), template="+%(expressions)s", output_field=BigIntegerField())
    return PhoneNumber.objects.alias(snapshot_key=snapshot).filter(snapshot_key__in=snapshot_ids)


def ends_with(suffix: str) -> Q:
    """Numbers ending with `suffix`: a range scan of the reversed-digits index. (Django's
    __startswith would be LIKE … ESCAPE, which SQLite cannot answer from the index.)"""
    low = suffix[::-1]
    return Q(digits_reversed__gte=low, digits_reversed__lt=low[:-1] + chr(ord(low[-1]) + 1))


class MatchKind:
    EXACT = "exact"
    ENDS_WITH = "ends_with"
    CONTAINS = "contains"
    LABELS = {EXACT: _("exact"), ENDS_WITH: _("ends with"), CONTAINS: _("contains")}


@dataclass(frozen=True)
class NumberMatch:
    tenant: Tenant
    snapshot: Snapshot
    group: NumberGroup
    digits: str
    region: str
    kind: str
    snapshot_age_text: str = ""  # "4 minutes ago"
    elsewhere: bool = False  # the same number sits in another group or tenant too

    @property
    def e164(self) -> str:
        return "+" + self.digits if self.digits.isdigit() else ""

    @property
    def shown_in_full(self) -> bool:
        """An exact match is the number the user typed: masking it would hide nothing."""
        return self.kind == MatchKind.EXACT

    @property
    def kind_label(self) -> str:
        return MatchKind.LABELS[self.kind]

    @property
    def url(self) -> str:
        return reverse("group_detail", args=[self.tenant.slug, self.group.group_id])


@dataclass(frozen=True)
class FormerMatch:
    """A group the number was removed from (and is not in now), from the number history."""

    tenant: Tenant
    change: GroupChange

    @property
    def formatted(self) -> str:
        return format_in_region(self.change.digits, self.tenant.default_region)

    @property
    def url(self) -> str:
        return reverse("group_detail", args=[self.tenant.slug, self.change.group_id])


@dataclass
class EntryResult:
    query: NumberQuery
    matches: list[NumberMatch]
    total: int = 0  # all matches, of which the first MATCHES_SHOWN are in `matches`
    # Whether `matches` holds every place its numbers sit among the tenants searched.
    complete: bool = True
    formerly: list[FormerMatch] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.total - len(self.matches)


@dataclass
class SearchResults:
    entries: list[EntryResult]
    tenants_searched: int

    @property
    def found(self) -> list[EntryResult]:
        return [e for e in self.entries if e.matches]

    @property
    def not_found(self) -> list[EntryResult]:
        return [e for e in self.entries if e.query.understood and not e.matches]

    @property
    def formerly(self) -> list[tuple[EntryResult, FormerMatch]]:
        return [(entry, former) for entry in self.entries for former in entry.formerly]

    @property
    def not_understood(self) -> list[EntryResult]:
        return [e for e in self.entries if not e.query.understood]


def search_numbers(*, user, text: str, anywhere: bool = False) -> SearchResults:
    """Find the numbers of a pasted list in every tenant `user` may see (and no other).

    Per entry: exact full numbers (as typed, and read in each tenant's default region);
    else numbers ending with it (4 digits or more); else, with `anywhere`, numbers
    containing it. Every lookup but "contains" is an index lookup.
    """
    tenants = list(
        visible_tenants(user)
        .filter(current_snapshot__isnull=False)
        .select_related("current_snapshot")
    )
    entries = [
        EntryResult(read_number(entry, anywhere=anywhere), []) for entry in split_entries(text)
    ]
    searcher = _Searcher(tenants)
    searcher.find_exact([e for e in entries if e.query.understood])
    searcher.find_partial([e for e in entries if e.query.understood and not e.matches], anywhere)
    searcher.flag_numbers_found_elsewhere(entries)
    searcher.find_former_groups([e for e in entries if e.query.understood])
    return SearchResults(entries, len(tenants))


class _Searcher:
    """Lookups over the current snapshots of a fixed set of tenants."""

    def __init__(self, tenants: list[Tenant]):
        self.tenants = {tenant.current_snapshot_id: tenant for tenant in tenants}
        self.snapshot_ids = list(self.tenants)
        self.age_texts = {
            tenant.current_snapshot_id: gettext("%(since)s ago")
            % {"since": timesince(tenant.current_snapshot.taken_at)}
            for tenant in tenants
        }

    def _numbers(self) -> QuerySet:
        return numbers_in_snapshots(self.snapshot_ids).select_related("group").only(*MATCH_FIELDS)

    def _match(self, number: PhoneNumber, kind: str) -> NumberMatch:
        tenant = self.tenants[number.snapshot_id]
        return NumberMatch(
            tenant,
            tenant.current_snapshot,
            number.group,
            number.digits,
            number.region,
            kind,
            self.age_texts[number.snapshot_id],
        )

    def find_exact(self, entries: list[EntryResult]) -> None:
        """One batched lookup for every entry's full numbers, in every tenant at once."""
        if not self.snapshot_ids or not entries:
            return
        # Tenants by default region: a national entry is read once per region, not per tenant.
        snapshots_in_region: dict[str, set[int]] = {}
        for snapshot_id, tenant in self.tenants.items():
            if tenant.default_region:
                snapshots_in_region.setdefault(tenant.default_region, set()).add(snapshot_id)
        # reversed digits → [(entry, snapshot ids it counts in: None for all)]
        wanted: dict[str, list[tuple[EntryResult, set[int] | None]]] = {}
        for entry in entries:
            for digits in entry.query.full_numbers():
                wanted.setdefault(digits[::-1], []).append((entry, None))
            if entry.query.international:
                continue
            for region, snapshot_ids in snapshots_in_region.items():
                national = entry.query.national_number_in(region)
                if national:
                    wanted.setdefault(national[::-1], []).append((entry, snapshot_ids))
        keys = list(wanted)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            numbers = self._numbers().filter(digits_reversed__in=chunk).order_by()
            for number in numbers:
                for entry, only_in in wanted[number.digits_reversed]:
                    if only_in is not None:
                        entry.complete = False
                        if number.snapshot_id not in only_in:
                            continue
                    if all(m.group.pk != number.group_id for m in entry.matches):
                        entry.matches.append(self._match(number, MatchKind.EXACT))
        for entry in entries:
            entry.matches.sort(key=_match_order)
            entry.total = len(entry.matches)

    def find_partial(self, entries: list[EntryResult], anywhere: bool) -> None:
        """For entries without an exact match: numbers ending with them (range scans of the
        reversed-digits index), else containing them when `anywhere`."""
        if not self.snapshot_ids:
            return
        long_enough = [e for e in entries if len(e.query.suffix) >= BATCHED_SUFFIX_DIGITS]
        self._find_suffixes_batched(long_enough)
        batched = {id(entry) for entry in long_enough}
        for entry in entries:
            query = entry.query
            if id(entry) not in batched and len(query.suffix) >= MIN_SUFFIX_DIGITS:
                numbers = self._numbers().filter(ends_with(query.suffix))
                self._collect(entry, numbers, MatchKind.ENDS_WITH)
            if not entry.matches and anywhere and len(query.digits) >= 3:
                numbers = self._numbers().filter(digits_reversed__contains=query.digits[::-1])
                self._collect(entry, numbers, MatchKind.CONTAINS)

    def _find_suffixes_batched(self, entries: list[EntryResult]) -> None:
        """Ends-with lookups of many entries, SUFFIX_CHUNK suffixes a query (their index
        ranges OR-ed): a pasted list of 1,000 partial numbers was 1,000 queries. Only for
        suffixes long enough to match few numbers each, as every match is fetched."""
        by_suffix: dict[str, list[EntryResult]] = {}
        for entry in entries:
            by_suffix.setdefault(entry.query.suffix, []).append(entry)
        suffixes = list(by_suffix)
        for start in range(0, len(suffixes), SUFFIX_CHUNK):
            chunk = suffixes[start : start + SUFFIX_CHUNK]
            found: dict[str, list[PhoneNumber]] = {suffix: [] for suffix in chunk}
            lengths = sorted({len(suffix) for suffix in chunk})
            condition = reduce(operator.or_, (ends_with(suffix) for suffix in chunk))
            for number in self._numbers().filter(condition).order_by("digits_reversed"):
                for length in lengths:  # a number can end with two suffixes: 53351, 753351
                    if length > len(number.digits):
                        break
                    if (tail := number.digits[-length:]) in found:
                        found[tail].append(number)
            for suffix, numbers in found.items():
                for entry in by_suffix[suffix]:
                    self._set_matches(entry, numbers, len(numbers), MatchKind.ENDS_WITH)

    def _collect(self, entry: EntryResult, numbers: QuerySet, kind: str) -> None:
        shown = list(numbers.order_by()[: MATCHES_SHOWN + 1])
        total = len(shown) if len(shown) <= MATCHES_SHOWN else numbers.count()
        self._set_matches(entry, shown, total, kind)

    def _set_matches(
        self, entry: EntryResult, numbers: list[PhoneNumber], total: int, kind: str
    ) -> None:
        entry.total = total
        entry.complete = total <= MATCHES_SHOWN
        entry.matches = sorted(
            (self._match(number, kind) for number in numbers[:MATCHES_SHOWN]), key=_match_order
        )

    def find_former_groups(self, entries: list[EntryResult]) -> None:
        """For each entry's full numbers: the groups they were removed from and are not in
        now (the latest removal per group), from the number history."""
        wanted: dict[str, list[EntryResult]] = {}
        for entry in entries:
            for digits in entry.query.full_numbers():
                wanted.setdefault(digits, []).append(entry)
        if not wanted or not self.tenants:
            return
        tenants = {tenant.pk: tenant for tenant in self.tenants.values()}
        keys = list(wanted)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            removals = GroupChange.objects.filter(
                kind=GroupChange.Kind.NUMBER_REMOVED,
                digits__in=keys[start : start + LOOKUP_CHUNK],
                tenant_id__in=list(tenants),
            ).order_by("-at", "-pk")
            for change in removals:
                for entry in wanted[change.digits]:
                    seen = {(f.tenant.pk, f.change.group_id) for f in entry.formerly}
                    now_in = {
                        (m.tenant.pk, m.group.group_id)
                        for m in entry.matches
                        if m.digits == change.digits
                    }
                    place = (change.tenant_id, change.group_id)
                    if place not in seen and place not in now_in:
                        entry.formerly.append(FormerMatch(tenants[change.tenant_id], change))

    def flag_numbers_found_elsewhere(self, entries: list[EntryResult]) -> None:
        """Mark matches whose number also sits in another group or tenant the user sees.

        An entry whose lookup returned every place its numbers sit (no tenant left out by a
        default region, nothing cut at MATCHES_SHOWN) answers that from its own matches;
        only the others ask the database.
        """
        shared: set[str] = set()
        to_ask: set[str] = set()
        for entry in entries:
            places: dict[str, set[int]] = {}
            for match in entry.matches:
                places.setdefault(match.digits, set()).add(match.group.pk)
            if entry.complete:
                shared |= {digits for digits, groups in places.items() if len(groups) > 1}
            else:
                to_ask |= {digits[::-1] for digits in places}
        keys = list(to_ask)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            counts = (
                numbers_in_snapshots(self.snapshot_ids)
                .filter(digits_reversed__in=keys[start : start + LOOKUP_CHUNK])
                .values("digits_reversed")
                .annotate(places=Count("group_id", distinct=True))
                .filter(places__gt=1)
                .order_by()
            )
            shared |= {row["digits_reversed"][::-1] for row in counts}
        for entry in entries:
            entry.matches = [replace(m, elsewhere=m.digits in shared) for m in entry.matches]


def _match_order(match: NumberMatch) -> tuple:
    return (match.tenant.name, match.group.name, match.group.group_id, match.digits)


# --- rows for exports -----------------------------------------------------------------------
# Each export reads through the same selector as the page it exports, so they cannot disagree.

PHONE_LIST = re.compile(r"[0-9,]*")
GROUP_EXPORT_FIELDS = ("group_id", "name", "customer_id", "remark", "phone_count", "phones_text")


def group_export_rows(
    *, tenant: Tenant, groups: QuerySet, snapshot: Snapshot | None, masked: bool = False
) -> Iterator[tuple]:
    synced_at = _iso(snapshot.taken_at if snapshot else None)
    for row in groups.values_list(*GROUP_EXPORT_FIELDS).iterator(chunk_size=2000):
        if masked:
            row = (*row[:-1], mask_number_list(row[-1]))
        yield (tenant.name, *row, synced_at)


def number_export_blocks(
    *,
    tenant: Tenant,
    groups: QuerySet,
    text: Callable[[str], str],
    phone: Callable[[str], str],
    masked: bool = False,
) -> Iterator[list[tuple]]:
    """The numbers of `groups`, one block a group, in NXCloud's order: tenant, groupId,
    group name, digits, E.164, region. `text` and `phone` prepare cells for the file type;
    `masked` hides the middle digits of both number columns.

    Reads each group's phones as stored with it, and regions from the refresh's prefix
    table: no phonenumbers parse per number, and a tenant's million numbers are a hundred
    thousand rows to fetch, not a million.
    """
    tenant_name = text(tenant.name)
    for group_id, name, phones_text in groups.values_list(
        "group_id", "name", "phones_text"
    ).iterator(chunk_size=5000):
        phones = [p for p in phones_text.split(",") if p]
        group_id, name = text(group_id), text(name)
        if not PHONE_LIST.fullmatch(phones_text):
            phones_shown = [phone(digits) for digits in phones]
        else:
            phones_shown = phones  # digits only: nothing to prepare, number by number
        regions = regions_of(phones)
        if None in regions:  # some are not numbers: no E.164 form, no region for those
            e164s = ["" if r is None else "+" + d for d, r in zip(phones, regions, strict=True)]
            regions = [r or "" for r in regions]
        else:
            e164s = ["+" + digits for digits in phones]
        if masked:
            phones_shown = [phone(mask_number(digits)) for digits in phones]
            e164s = [mask_number(e164[1:], e164) if e164 else "" for e164 in e164s]
        # zip over repeat() builds the rows in C: this loop runs a million times an export.
        yield list(
            zip(repeat(tenant_name), repeat(group_id), repeat(name), phones_shown, e164s, regions)
        )


def sync_export_rows(tenant: Tenant) -> Iterator[tuple]:
    for run in sync_history(tenant).iterator(chunk_size=1000):
        yield (
            _iso(run.started_at),
            _iso(run.finished_at),
            run.status,
            run.groups,
            run.numbers,
            run.pages_done,
            run.upstream_ms,
            run.write_ms,
            run.duration_ms,
            run.error_code,
            run.error_message,
            run.request_id,
        )


def search_export_rows(results: SearchResults, *, masked: bool = False) -> Iterator[tuple]:
    """Every match, then every entry found nowhere, then every entry not understood. With
    `masked`, numbers are masked as the page shows them (exact matches are as typed)."""
    for entry in results.entries:
        for m in entry.matches:
            digits, e164 = m.digits, m.e164
            if masked and not m.shown_in_full:
                digits, e164 = mask_number(digits), mask_number(digits, e164)
            yield (entry.query.text, m.kind, m.tenant.name, m.group.group_id, m.group.name,
                   digits, e164, m.region)  # fmt: skip
    for entry in results.not_found:
        yield (entry.query.text, "not_found", "", "", "", "", "", "")
    for entry in results.not_understood:
        yield (entry.query.text, "not_understood", "", "", "", "", "", "")


def _iso(moment: datetime | None) -> str:
    return timezone.localtime(moment).isoformat() if moment else ""
