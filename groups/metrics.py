"""Metrics in Prometheus' text format, for `/metrics`.

Request latency by view and NXCloud calls by action and code are counted in the process
that serves or calls; with PROMETHEUS_MULTIPROC_DIR set (deploy/), the processes of one
machine (gunicorn workers, the task worker) add up. Refreshes and snapshot ages are read
from the database at each scrape, so every instance reports the same, whole picture.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

REQUEST_SECONDS = Histogram(
    "pns_http_request_duration_seconds",
    "Time to answer a request, by view.",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
NXCLOUD_CALLS = Counter(
    "pns_nxcloud_calls", "NXCloud API calls, by action and result code.", ["action", "code"]
)


def observe_request(view: str, seconds: float) -> None:
    REQUEST_SECONDS.labels(view).observe(seconds)


def count_nxcloud_call(action: str, code: int | None, status: int | None) -> None:
    """`code` is NXCloud's result code; a call without one is counted by its HTTP status
    ("http_500") or as "no_answer"."""
    if code is not None:
        label = str(code)
    elif status is not None:
        label = f"http_{status}"
    else:
        label = "no_answer"
    NXCLOUD_CALLS.labels(action, label).inc()


class RefreshCollector:
    """Per tenant, from the database: snapshot age, refreshes by outcome, time spent in
    successful refreshes, and failures in a row (what the scheduler backs off on)."""

    def collect(self):
        from django.db.models import Count, Sum
        from django.utils import timezone

        from groups.models import SyncRun
        from groups.selectors import refresh_schedule

        schedule = refresh_schedule()
        age = GaugeMetricFamily(
            "pns_snapshot_age_seconds", "Age of the tenant's current snapshot.", labels=["tenant"]
        )
        failing = GaugeMetricFamily(
            "pns_refresh_failures_in_a_row",
            "Refreshes that failed since the tenant's last successful one.",
            labels=["tenant"],
        )
        now = timezone.now()
        for entry in schedule:
            snapshot = entry.tenant.current_snapshot
            if snapshot is not None:
                age.add_metric([entry.tenant.slug], (now - snapshot.taken_at).total_seconds())
            failing.add_metric([entry.tenant.slug], entry.failures_in_a_row)
        yield age
        yield failing

        runs = CounterMetricFamily(
            "pns_refresh_runs", "Refreshes, by tenant and outcome.", labels=["tenant", "status"]
        )
        rows = SyncRun.objects.values("tenant__slug", "status").annotate(n=Count("id"))
        for row in rows.order_by("tenant__slug", "status"):
            runs.add_metric([row["tenant__slug"], row["status"]], row["n"])
        yield runs

        seconds = CounterMetricFamily(
            "pns_refresh_seconds",
            "Time spent in successful refreshes (NXCloud read plus saving), by tenant.",
            labels=["tenant"],
        )
        totals = (
            SyncRun.objects.filter(status=SyncRun.Status.OK)
            .values("tenant__slug")
            .annotate(upstream=Sum("upstream_ms"), write=Sum("write_ms"))
            .order_by("tenant__slug")
        )
        for row in totals:
            spent_ms = (row["upstream"] or 0) + (row["write"] or 0)
            seconds.add_metric([row["tenant__slug"]], spent_ms / 1000)
        yield seconds


_database_registry = CollectorRegistry(auto_describe=False)
_database_registry.register(RefreshCollector())


def exposition() -> tuple[bytes, str]:
    """The whole scrape: (body, content type)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return generate_latest(processes) + generate_latest(_database_registry), CONTENT_TYPE_LATEST
