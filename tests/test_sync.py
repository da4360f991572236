"""Refreshing a tenant's snapshot from NXCloud (the simulator), and keeping it whole."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.utils import timezone

from groups import services
from groups.models import NumberGroup, PhoneNumber, Snapshot, SyncRun, Tenant
from groups.services import sync_claim, sync_execute, sync_tenant
from groups.simulator import SimGroup
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, THREAD_TASKS, create_tenant

Status = SyncRun.Status


def current_groups(tenant):
    tenant.refresh_from_db()
    return list(
        NumberGroup.objects.filter(snapshot=tenant.current_snapshot).values_list(
            "group_id", "name", "phone_count"
        )
    )


def test_a_refresh_stores_every_group_and_number_with_what_search_needs(sim_tenant):
    run = sync_tenant(sim_tenant, trigger="test")

    assert run.status == Status.OK
    assert (run.groups, run.numbers, run.pages_done, run.pages_total) == (3, 5, 1, 1)
    assert run.upstream_ms is not None and run.write_ms is not None
    assert run.finished_at >= run.started_at
    sim_tenant.refresh_from_db()
    snapshot = sim_tenant.current_snapshot
    assert (snapshot.group_count, snapshot.phone_count, snapshot.sync_run) == (3, 5, run)
    assert current_groups(sim_tenant) == [
        ("b8c2aaf940d534d3c9ed8b780757f94e", "groupA", 3),
        ("0f3c5d1e2b4a69788796a5b4c3d2e1f0", "客服热线", 1),
        ("11112222333344445555666677778888", "Ops", 1),
    ]
    group = NumberGroup.objects.get(snapshot=snapshot, group_id="b8c2aaf940d534d3c9ed8b780757f94e")
    assert (group.customer_id, group.remark) == ("cus_1", "Number Group A")
    assert group.phones == ["85211111114", "85235753351", "85235753311"]
    number = PhoneNumber.objects.get(snapshot=snapshot, digits="85235753351")
    assert (number.group, number.e164, number.region) == (group, "+85235753351", "HK")
    assert number.digits_reversed == "15335753258"
    assert PhoneNumber.objects.get(snapshot=snapshot, digits="447911123456").region == "GG"


def test_a_big_account_is_read_in_pages_with_progress_recorded(simulator, big_account, db):
    tenant = create_tenant(
        "big", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url
    )
    seen = []
    run = sync_tenant(tenant, progress=lambda done, total: seen.append((done, total)))
    assert run.status == Status.OK
    assert (run.groups, run.numbers) == (2_500, 12_000)
    assert seen[-1] == (3, 3)
    run.refresh_from_db()
    assert (run.pages_done, run.pages_total) == (3, 3)
    assert PhoneNumber.objects.filter(snapshot=run.snapshot).count() == 12_000


def test_a_second_refresh_replaces_the_snapshot_and_keeps_one_before_it(sim_tenant, account):
    first = sync_tenant(sim_tenant).snapshot
    del account.groups["11112222333344445555666677778888"]
    account.groups["new"] = SimGroup("new", "Newcomer", "", "", ["6591234567"])
    second = sync_tenant(sim_tenant).snapshot

    assert [g[0] for g in current_groups(sim_tenant)] == [
        "b8c2aaf940d534d3c9ed8b780757f94e",
        "0f3c5d1e2b4a69788796a5b4c3d2e1f0",
        "new",
    ]
    third = sync_tenant(sim_tenant).snapshot
    assert set(Snapshot.objects.values_list("pk", flat=True)) == {second.pk, third.pk}
    assert not NumberGroup.objects.filter(snapshot_id=first.pk).exists()
    assert not PhoneNumber.objects.filter(snapshot_id=first.pk).exists()
    assert PhoneNumber.objects.count() == 10


@pytest.mark.parametrize(
    ("fault", "options", "expected"),
    [
        ("http_status", {"status": 500, "times": None}, "HTTP 500"),
        ("error_code", {"code": 1005, "times": None}, "NXCloud error 1005"),
        ("malformed_json", {"times": None}, "not JSON"),
    ],
)
def test_a_failed_read_keeps_the_previous_snapshot_and_records_why(
    sim_tenant, simulator, fault, options, expected
):
    good = sync_tenant(sim_tenant)
    simulator.inject(fault, **options)
    failed = sync_tenant(sim_tenant, trigger="test")

    assert failed.status == Status.FAILED
    assert expected in failed.error_message
    assert failed.finished_at is not None
    sim_tenant.refresh_from_db()
    assert sim_tenant.current_snapshot == good.snapshot
    assert len(current_groups(sim_tenant)) == 3
    if fault == "error_code":
        assert failed.error_code == 1005
        assert failed.request_id == simulator.calls[-1].request_id


def test_a_failed_write_keeps_the_previous_snapshot(sim_tenant, monkeypatch, account):
    good = sync_tenant(sim_tenant)
    account.groups["new"] = SimGroup("new", "Newcomer", "", "", ["6591234567"])
    real_insert = services.bulk_insert

    def insert_then_fail(model, fields, rows):
        real_insert(model, fields, rows)
        if model is PhoneNumber:
            raise DatabaseError("disk full")

    monkeypatch.setattr(services, "bulk_insert", insert_then_fail)
    failed = sync_tenant(sim_tenant)

    assert failed.status == Status.FAILED
    assert "Saving the new snapshot failed" in failed.error_message
    sim_tenant.refresh_from_db()
    assert sim_tenant.current_snapshot == good.snapshot
    assert Snapshot.objects.count() == 1
    assert NumberGroup.objects.count() == 3


def test_text_the_database_cannot_store_is_cleaned_not_fatal(sim_tenant, account):
    account.groups["nul"] = SimGroup("nul", "Bad\x00name", "c\x00", "r\x00", ["85290000001"])
    run = sync_tenant(sim_tenant)
    assert run.status == Status.OK
    assert NumberGroup.objects.get(group_id="nul").name == "Badname"


def test_a_tenant_whose_secret_cannot_be_read_fails_with_an_explanation(db, settings, simulator):
    from cryptography.fernet import Fernet

    settings.PNS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    tenant = create_tenant("lost", api_url=simulator.url)
    settings.PNS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    run = sync_tenant(Tenant.objects.get(pk=tenant.pk))
    assert run.status == Status.FAILED
    assert "cannot be decrypted" in run.error_message
    assert simulator.call_count() == 0


# --- one refresh per tenant at a time -------------------------------------------------------


def test_a_second_claim_joins_the_running_refresh(sim_tenant, simulator):
    run, started = sync_claim(tenant=sim_tenant, trigger="first")
    again, started_again = sync_claim(tenant=sim_tenant, trigger="second")
    assert started and not started_again
    assert again == run
    assert SyncRun.objects.count() == 1
    assert simulator.call_count() == 0


def test_a_stalled_refresh_is_marked_failed_and_replaced(sim_tenant, settings):
    dead, _ = sync_claim(tenant=sim_tenant, trigger="killed worker")
    SyncRun.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.PNS_SYNC_HEARTBEAT_TIMEOUT + 1)
    )
    run, started = sync_claim(tenant=sim_tenant, trigger="next")
    assert started and run != dead
    dead.refresh_from_db()
    assert dead.status == Status.FAILED
    assert "stopped answering" in dead.error_message
    assert sync_execute(run).status == Status.OK


def test_the_database_refuses_two_running_refreshes_of_one_tenant(sim_tenant):
    from django.db import IntegrityError, transaction

    SyncRun.objects.create(tenant=sim_tenant, trigger="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(tenant=sim_tenant, trigger="b")


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_tenant_make_one_upstream_read(simulator, big_account):
    tenant = create_tenant(
        "busy", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url
    )
    simulator.latency_ms = 150
    results, errors = [], []

    def refresh():
        try:
            results.append(sync_tenant(Tenant.objects.get(pk=tenant.pk), trigger="thread"))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(results) == 8
    assert {run.pk for run in results} == {results[0].pk}
    assert all(run.status == Status.OK for run in results)
    assert simulator.call_count("listGroup") == 3  # one read: three pages
    assert SyncRun.objects.count() == 1
    assert Snapshot.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_page_refresh_runs_in_the_background_and_reports_progress(
    simulator, big_account, settings
):
    settings.TASKS = THREAD_TASKS
    tenant = create_tenant("bg", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url)
    simulator.latency_ms = 200
    run, started = services.refresh_start(tenant=tenant, trigger="page")
    assert started
    assert run.status in (Status.QUEUED, Status.RUNNING)  # the page returns at once
    finished = services.sync_wait(run, timeout=60, poll_seconds=0.1)
    assert finished.status == Status.OK
    assert (finished.pages_done, finished.pages_total) == (3, 3)
    tenant.refresh_from_db()
    assert tenant.current_snapshot.group_count == 2_500


def test_removing_a_tenant_removes_its_snapshots(sim_tenant):
    sync_tenant(sim_tenant)
    sync_tenant(sim_tenant)
    sim_tenant.delete()
    assert not Snapshot.objects.exists()
    assert not NumberGroup.objects.exists()
    assert not PhoneNumber.objects.exists()


# --- pns_sync -------------------------------------------------------------------------------


def test_pns_sync_refreshes_the_named_tenants(sim_tenant):
    out = io.StringIO()
    call_command("pns_sync", "sim", stdout=out)
    assert out.getvalue().startswith("sim: 3 groups, 5 numbers (1 pages")
    assert SyncRun.objects.get().trigger.startswith("pns_sync (cli:")


def test_pns_sync_exits_non_zero_naming_the_tenant_and_the_error(sim_tenant, simulator):
    simulator.inject("error_code", code=1003, times=None)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 refresh\\(es\\) failed: sim"):
        call_command("pns_sync", "--all", stderr=err)
    assert "sim: FAILED: NXCloud error 1003" in err.getvalue()


def test_pns_sync_refuses_unknown_tenants_and_ambiguous_arguments(sim_tenant):
    with pytest.raises(CommandError, match="No tenant with slug: nope"):
        call_command("pns_sync", "nope")
    with pytest.raises(CommandError, match="or give --all"):
        call_command("pns_sync")
    with pytest.raises(CommandError, match="or give --all"):
        call_command("pns_sync", "sim", "--all")
