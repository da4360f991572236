"""Refreshes as tasks (django.tasks): queued by pages and the scheduler, run by a worker,
and kept fresh by `pns_scheduler` with back-off for tenants that keep failing."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from groups.models import Snapshot, SyncRun
from groups.selectors import refresh_schedule
from groups.services import refresh_scheduled, refresh_start, sync_execute_queued, sync_tenant
from tests.conftest import create_tenant, create_user

Status = SyncRun.Status
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
NO_WORKER_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def support(db, client, sim_tenant):
    user = create_user("helper", tenants=[sim_tenant])
    client.force_login(user)
    return user


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def run_worker() -> None:
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)


# --- the queue --------------------------------------------------------------------------------


# The worker closes its database connections, as a long-lived process should: these tests
# use a real transaction, not the test's rolled-back one.
@pytest.mark.django_db(transaction=True)
def test_the_refresh_button_queues_a_task_that_the_worker_runs(
    client, support, sim_tenant, simulator, settings
):
    settings.TASKS = DATABASE_TASKS
    client.post(reverse("tenant_refresh", args=[sim_tenant.slug]))
    run = SyncRun.objects.get()
    assert run.status == Status.QUEUED
    assert simulator.call_count("listGroup") == 0  # the page did not wait for NXCloud
    page = page_text(client.get(sim_tenant.get_absolute_url()))
    assert "Refreshing from NXCloud… queued, waiting for a task worker to start it" in page
    assert "Queued" in page_text(client.get(reverse("home")))
    again = client.post(reverse("tenant_refresh", args=[sim_tenant.slug]), follow=True)
    assert "A refresh of this tenant is already under way." in page_text(again)

    run_worker()

    run.refresh_from_db()
    assert run.status == Status.OK and run.groups == 3
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    sim_tenant.refresh_from_db()
    assert sim_tenant.current_snapshot.sync_run == run
    assert "Refreshing" not in page_text(client.get(sim_tenant.get_absolute_url()))


def test_a_queued_refresh_no_worker_takes_is_abandoned_with_a_hint(
    client, support, sim_tenant, settings
):
    settings.TASKS = NO_WORKER_TASKS
    run, started = refresh_start(tenant=sim_tenant, trigger="page")
    assert started and run.status == Status.QUEUED
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - settings.PNS_QUEUE_TIMEOUT - timedelta(seconds=1)
    )
    page = page_text(client.get(sim_tenant.get_absolute_url()))
    assert "The last refresh failed" in page
    assert "No task worker started this refresh within 30 minutes" in page
    assert "manage.py db_worker" in page

    second, started = refresh_start(tenant=sim_tenant, trigger="page")
    assert started and second != run
    run.refresh_from_db()
    assert run.status == Status.FAILED


def test_a_task_whose_run_was_abandoned_meanwhile_does_nothing(sim_tenant, simulator, settings):
    settings.TASKS = NO_WORKER_TASKS
    run, _ = refresh_start(tenant=sim_tenant, trigger="page")
    SyncRun.objects.filter(pk=run.pk).update(status=Status.FAILED)
    assert sync_execute_queued(run.pk) == "skipped"
    assert simulator.call_count("listGroup") == 0


@pytest.mark.django_db(transaction=True)
def test_the_worker_records_a_failed_refresh_and_keeps_the_snapshot(
    sim_tenant, simulator, settings
):
    good = sync_tenant(sim_tenant)
    settings.TASKS = DATABASE_TASKS
    simulator.inject("error_code", code=1005, times=None)
    run, _ = refresh_start(tenant=sim_tenant, trigger="page")
    run_worker()
    run.refresh_from_db()
    assert run.status == Status.FAILED and "Insufficient permissions" in run.error_message
    sim_tenant.refresh_from_db()
    assert sim_tenant.current_snapshot == good.snapshot


# --- the schedule -----------------------------------------------------------------------------


def schedule_of(tenant):
    return next(entry for entry in refresh_schedule() if entry.tenant == tenant)


def age_snapshot(tenant, minutes: int) -> None:
    Snapshot.objects.filter(pk=tenant.current_snapshot_id).update(
        taken_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_the_schedule_refreshes_new_and_old_tenants_but_not_fresh_or_inactive_ones(
    sim_tenant, settings
):
    never = create_tenant("never")
    inactive = create_tenant("inactive", is_active=False)
    assert schedule_of(never).due_at <= timezone.now()
    assert inactive not in [entry.tenant for entry in refresh_schedule()]

    sync_tenant(sim_tenant)
    sim_tenant.refresh_from_db()
    fresh = schedule_of(sim_tenant)
    taken = sim_tenant.current_snapshot.taken_at
    assert fresh.due_at == taken + settings.PNS_REFRESH_INTERVAL
    age_snapshot(sim_tenant, 11)
    assert schedule_of(sim_tenant).due_at <= timezone.now()


def test_a_tenant_whose_refreshes_keep_failing_is_tried_less_and_less_often(db, settings):
    broken = create_tenant("broken")  # nothing answers at its API URL
    times = []
    for _ in range(4):
        run = sync_tenant(broken)
        assert run.status == Status.FAILED
        entry = schedule_of(broken)
        times.append((entry.failures_in_a_row, entry.due_at - run.finished_at))
    interval = settings.PNS_REFRESH_INTERVAL
    assert times == [(1, interval), (2, interval * 2), (3, interval * 4), (4, interval * 8)]

    settings.PNS_REFRESH_MAX_BACKOFF = interval * 3
    assert schedule_of(broken).due_at - run.finished_at == interval * 3


def test_a_tenant_being_refreshed_is_not_scheduled_again(sim_tenant, settings):
    settings.TASKS = NO_WORKER_TASKS
    refresh_start(tenant=sim_tenant, trigger="page")
    assert schedule_of(sim_tenant).due_at is None
    assert refresh_scheduled() == []


def test_the_scheduler_command_refreshes_what_is_due_and_nothing_twice(
    sim_tenant, simulator, settings
):
    sync_tenant(sim_tenant)
    age_snapshot(sim_tenant, 30)
    create_tenant("broken")
    out = io.StringIO()
    call_command("pns_scheduler", "--once", stdout=out)
    assert sorted(out.getvalue().splitlines()) == ["broken: refresh failed", "sim: refresh ok"]
    assert simulator.call_count("listGroup") == 2

    out = io.StringIO()
    call_command("pns_scheduler", "--once", stdout=out)
    assert out.getvalue() == ""  # sim is fresh; broken waits out its back-off
    assert simulator.call_count("listGroup") == 2
    assert SyncRun.objects.filter(trigger="scheduler").count() == 2
