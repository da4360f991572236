"""Benchmark: numbers.csv of a tenant with 1,000,000 numbers, in-process and through gunicorn.

    .venv/bin/python bench/export.py
    .venv/bin/python bench/export.py --database postgres://postgres@127.0.0.1:5432/pns_bench

Prints rows/s, time to first byte and the serving process's memory, beside the targets of
issue 6, and the ratio to the database's own command-line CSV export of the same rows.
"""

import argparse
import random
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench_database import prepare_django  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--phones", type=int, default=1_000_000)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    env = prepare_django(args.database)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction
    from django.test import Client

    from groups import nxcloud
    from groups.models import SyncRun, Tenant, TenantMembership
    from groups.services import _write_snapshot
    from groups.simulator import generate_groups

    generated = generate_groups(random.Random(3), groups=args.groups, phones=args.phones)
    groups = [
        nxcloud.NumberGroup(g.group_id, g.name, g.customer_id, g.remark, tuple(g.phones))
        for g in generated
    ]
    tenant = Tenant(slug="big", name="Big", access_key="ak")
    tenant.set_access_secret("bench")
    tenant.save()
    run = SyncRun.objects.create(tenant=tenant, trigger="bench", status="ok")
    with transaction.atomic():
        snapshot = _write_snapshot(tenant, run, groups)
        Tenant.objects.filter(pk=tenant.pk).update(current_snapshot=snapshot)
    password = secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user("analyst", password=password)
    # `flush` (between runs) empties the roles the migrations made: grant the right itself.
    user.user_permissions.add(Permission.objects.get(codename="export_numbers"))
    TenantMembership.objects.create(user=user, tenant=tenant)
    numbers = snapshot.phone_count
    print(f"{connection.vendor}: tenant with {numbers:,} numbers in {len(groups):,} groups")

    # In-process, through the real view.
    client = Client()
    client.force_login(user)
    rss_before = _rss_mib()
    started = time.perf_counter()
    response = client.get("/t/big/numbers.csv")
    first_byte = None
    size = 0
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
    in_process = time.perf_counter() - started
    print(
        f"  in process:     {numbers / in_process:>10,.0f} rows/s, first byte "
        f"{first_byte * 1000:.0f} ms, {size / 1e6:.0f} MB, RSS +{_rss_mib() - rss_before:.0f} MiB"
    )

    # Through gunicorn over loopback.
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own app
        [str(Path(sys.executable).with_name("gunicorn")), "pns_admin.wsgi"],
        cwd=PROJECT_DIR,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        session = _logged_in_session(base, "analyst", password)
        worker = _worker_pid(server.pid)
        idle = _proc_kib(worker, "VmRSS")
        started = time.perf_counter()
        with session.get(f"{base}/t/big/numbers.csv", stream=True, timeout=300) as download:
            download.raise_for_status()
            first_byte = None
            rows = 0
            for chunk in download.iter_content(chunk_size=256 * 1024):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                rows += chunk.count(b"\n")
        through = time.perf_counter() - started
        growth = (_proc_kib(worker, "VmHWM") - idle) / 1024
        rows -= 1  # the header
        rate = rows / through
        print(
            f"  gunicorn:       {rate:>10,.0f} rows/s   (target ≥ 250,000: "
            f"{'met' if rate >= 250_000 else 'MISSED'})"
        )
        print(
            f"  first byte:     {first_byte * 1000:>10.0f} ms       (target ≤ 1,000 ms: "
            f"{'met' if first_byte <= 1 else 'MISSED'})"
        )
        print(
            f"  worker peak RSS over idle: {growth:.0f} MiB (target ≤ 50 MiB: "
            f"{'met' if growth <= 50 else 'MISSED'})"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)

    cli = _cli_export_seconds(connection, snapshot.pk, args.database)
    if cli:
        print(
            f"  database CLI:   {numbers / cli:>10,.0f} rows/s; ours through gunicorn is "
            f"{rate / (numbers / cli):.2f}x of it"
        )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _logged_in_session(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    deadline = time.monotonic() + 30
    while True:
        try:
            page = session.get(f"{base}/accounts/login/", timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                sys.exit("gunicorn did not start")
            time.sleep(0.2)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    ).raise_for_status()
    return session


def _worker_pid(master: int) -> int:
    for _ in range(50):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    sys.exit("no gunicorn worker")


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _cli_export_seconds(connection, snapshot_id: int, database_url) -> float | None:
    # The only value in it is an integer from our own database.
    sql = (
        "SELECT t.name, g.group_id, g.name, p.digits, p.e164, p.region "  # noqa: S608
        "FROM groups_phonenumber p JOIN groups_numbergroup g ON g.id = p.group_id "
        "JOIN groups_tenant t ON t.current_snapshot_id = p.snapshot_id "
        f"WHERE p.snapshot_id = {int(snapshot_id)}"
    )
    if connection.vendor == "sqlite":
        tool = shutil.which("sqlite3")
        command = [tool, "-csv", connection.settings_dict["NAME"], sql] if tool else None
    else:
        tool = shutil.which("psql")
        command = [tool, database_url, "-c", f"\\copy ({sql}) TO STDOUT CSV"] if tool else None
    if not command:
        return None
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)  # noqa: S603
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
