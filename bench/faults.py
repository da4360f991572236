"""Fault drill: every NXCloud fault of issue 8, plus a refresh process killed mid-write, against
a tenant that already has a good snapshot. Prints one row a fault:

    fault | snapshot kept | message shown | recovered

"snapshot kept": the tenant still reads its previous snapshot, and no row of a half-written
one is left. "message shown": the tenant's page says the last refresh failed, explains why
(with NXCloud's requestId when it sent one), still shows the old data, and the refresh
history records it. "recovered": the next refresh succeeds. Exits 1 when any cell is "no".

    .venv/bin/python bench/faults.py                       # SQLite file in a temp dir
    .venv/bin/python bench/faults.py --database postgres://postgres@127.0.0.1:5432/pns_bench

The kill is real: `manage.py pns_sync` runs in a child process and gets SIGKILL once it has
read every page and is writing the snapshot.
"""

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))

from bench_database import prepare_django  # noqa: E402

ACCESS_KEY = "drill-ak"
SECRET = "drill-secret-7Qx"  # noqa: S105 - the simulator's made-up account
HEARTBEAT_TIMEOUT = 3  # seconds; the real default is 180


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.environ.update(
        PNS_SYNC_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        PNS_READ_TIMEOUT="0.3",
        PNS_RETRY_BACKOFF="0.01",
        TASK_BACKEND="immediate",
    )
    environment = prepare_django(args.database)
    logging.disable(logging.WARNING)  # the drill's failures are expected: their warnings are noise

    from django.db import connection

    from groups.simulator import PnsSimulator, generate_groups
    from tests.test_faults import EXPLAINED, FAULTS

    with PnsSimulator() as simulator:
        groups = generate_groups(random.Random(4), groups=4_500, phones=9_000)
        simulator.add_account(ACCESS_KEY, SECRET, groups)
        tenant = drill_tenant(simulator.url)
        rows = []
        for fault, (kind, options) in FAULTS.items():
            simulator.inject(kind, **options)
            rows.append(drill_fault(simulator, tenant, fault, expected=EXPLAINED[fault]))
        # A bigger account, so that writing the snapshot lasts long enough to be killed.
        simulator.add_account(
            ACCESS_KEY, SECRET, generate_groups(random.Random(5), groups=30_000, phones=400_000)
        )
        rows.append(drill_kill(tenant, environment))

    print(f"database: {connection.vendor}")
    print_table(["fault", "snapshot kept", "message shown", "recovered"], rows)
    if any("no" in row[1:] for row in rows):
        sys.exit(1)


def drill_tenant(api_url: str):
    from groups.models import Tenant
    from groups.services import sync_tenant

    tenant = Tenant(slug="drill", name="Drill", api_url=api_url, access_key=ACCESS_KEY)
    tenant.set_access_secret(SECRET)
    tenant.save()
    if sync_tenant(tenant, trigger="drill").status != "ok":
        sys.exit("The first refresh failed: the drill needs a good snapshot to start from.")
    return tenant


def drill_fault(simulator, tenant, fault: str, *, expected: str) -> list[str]:
    from groups.services import sync_tenant

    before = snapshot_state(tenant)
    run = sync_tenant(tenant, trigger="drill")
    kept = run.status == "failed" and snapshot_state(tenant) == before
    shown = message_shown(tenant, [expected, *([run.request_id] if run.request_id else [])])
    simulator.clear_faults()
    return [fault, yes(kept), yes(shown), yes(recovers(tenant))]


def drill_kill(tenant, environment: dict[str, str]) -> list[str]:
    from groups.models import SyncRun

    before = snapshot_state(tenant)
    child = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "pns_sync", tenant.slug],
        cwd=PROJECT_DIR,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    writing = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        run = SyncRun.objects.filter(tenant=tenant).order_by("-pk").first()
        if run.status == "running" and run.pages_total and run.pages_done == run.pages_total:
            time.sleep(0.5)  # into the write: 400,000 numbers take seconds to insert
            writing = child.poll() is None
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    run = SyncRun.objects.filter(tenant=tenant).order_by("-pk").first()
    if not writing or run.status != "running":
        sys.exit("The drill missed the write: the child finished before it was killed.")

    kept = snapshot_state(tenant) == before
    time.sleep(HEARTBEAT_TIMEOUT + 1)  # until the dead run's heartbeat is overdue
    shown = message_shown(tenant, ["stopped answering"])
    return ["process killed mid-write", yes(kept), yes(shown), yes(recovers(tenant))]


def snapshot_state(tenant) -> tuple:
    """The tenant's current snapshot, and every snapshot row there is (a half-written
    snapshot would add some)."""
    from groups.models import NumberGroup, PhoneNumber, Snapshot

    tenant.refresh_from_db()
    return (
        tenant.current_snapshot_id,
        Snapshot.objects.count(),
        NumberGroup.objects.count(),
        PhoneNumber.objects.count(),
    )


def message_shown(tenant, expected: list[str]) -> bool:
    import html
    import re

    from django.contrib.auth import get_user_model
    from django.test import Client

    from groups.models import TenantMembership

    user, _ = get_user_model().objects.get_or_create(username="drill-support")
    TenantMembership.objects.get_or_create(user=user, tenant=tenant)
    client = Client()
    client.force_login(user)

    def text(url: str) -> str:
        body = client.get(url).content.decode()
        return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))

    page = text(tenant.get_absolute_url())
    history = text(f"/t/{tenant.slug}/syncs/")
    return (
        "The last refresh failed" in page
        and all(phrase in page for phrase in expected)
        and f"{tenant.current_snapshot.group_count:,} groups" in page
        and expected[0][:40] in history
    )


def recovers(tenant) -> bool:
    from groups.services import sync_tenant

    return sync_tenant(tenant, trigger="drill").status == "ok"


def yes(value: bool) -> str:
    return "yes" if value else "no"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
