"""Benchmark: mixed traffic from logged-in clients on gunicorn while refreshes run (issue 8).

50 tenants / 1,000,000 numbers, read from the simulator (its own process) by the refresh
itself; gunicorn with 4 workers on loopback; 16 clients, each its own process with one
keep-alive connection, in a closed loop: search 50 %, group list 25 %, group page 20 %,
download 5 %. Every 10 s `manage.py pns_sync` refreshes the next tenant (as cron or the
scheduler does). Then the same 16 clients on /healthz (one `SELECT 1`: our trivial view).

    .venv/bin/python bench/load.py                               # SQLite file in a temp dir
    .venv/bin/python bench/load.py --database postgres://postgres@127.0.0.1:5432/pns_bench
    .venv/bin/python bench/load.py --worker-class sync gthread   # compare worker classes

Prints requests/s, p50/p95/p99 per kind, errors, the refreshes, and the ratio to the
trivial view. Targets: 0 errors; p95 ≤ 150 ms for pages and searches.
"""

import argparse
import http.client
import multiprocessing
import random
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench_database import prepare_django  # noqa: E402
from export import _free_port  # noqa: E402
from simulator_process import SECRET, start_simulator  # noqa: E402

MIX = {"search": 50, "group list": 25, "group page": 20, "download": 5}
PAGE_TARGET_MS = 150


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--phones", type=int, default=1_000_000, help="in all tenants")
    parser.add_argument("--groups", type=int, default=100_000, help="in all tenants")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--trivial-seconds", type=int, default=15)
    parser.add_argument("--refresh-every", type=float, default=10)
    parser.add_argument("--worker-class", nargs="+", default=["sync"], choices=["sync", "gthread"])
    return parser.parse_args()


@dataclass(frozen=True)
class Workload:
    """What the clients ask for, sampled from the loaded data."""

    slugs: list[str]
    groups: list[tuple[str, str]]  # (tenant slug, group id)
    numbers: list[str]  # digits, as stored

    def path(self, kind: str, rng: random.Random) -> str:
        if kind == "search":
            digits = rng.choice(self.numbers)
            query = rng.choice(["+" + digits, digits, digits[-8:], f"+{digits[:3]} {digits[3:]}"])
            return "/search/?" + urlencode({"q": query})
        if kind == "group list":
            params = {"sort": rng.choice(["", "name", "-count"]), "page": rng.randint(1, 5)}
            if rng.random() < 0.1:
                params["q"] = rng.choice(self.numbers)[-6:]
                params.pop("page")
            return f"/t/{rng.choice(self.slugs)}/?{urlencode(params)}"
        if kind == "group page":
            slug, group_id = rng.choice(self.groups)
            return f"/t/{slug}/groups/{group_id}/"
        if kind == "download":
            what = rng.choice(["numbers.csv", "groups.csv"])
            return f"/t/{rng.choice(self.slugs)}/{what}"
        return "/healthz"


def main() -> None:
    args = parse_args()
    env = prepare_django(args.database)
    from django.db import connection

    per_tenant_groups = args.groups // args.tenants
    per_tenant_phones = args.phones // args.tenants
    simulator, api_url = start_simulator(
        count=args.tenants, groups=per_tenant_groups, phones=per_tenant_phones, latency_ms=20
    )
    try:
        started = time.perf_counter()
        slugs = load_tenants(api_url, args.tenants)
        print(
            f"{connection.vendor}: {args.tenants} tenants, {args.phones:,} numbers, "
            f"{args.groups:,} groups refreshed from the simulator in "
            f"{time.perf_counter() - started:.0f} s"
        )
        logins = create_users(args.clients)
        workload = sample_workload(slugs)
        connection.close()  # the clients fork: no inherited database connection
        for worker_class in args.worker_class:
            run_server_and_measure(args, env, worker_class, slugs, logins, workload)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def load_tenants(api_url: str, count: int) -> list[str]:
    from django.db import connection

    from groups.models import Tenant
    from groups.services import sync_tenant

    tenants = []
    for n in range(1, count + 1):
        tenant = Tenant(slug=f"t{n:02d}", name=f"Tenant {n:02d}", api_url=api_url)
        tenant.access_key = f"sim-ak-{n}"
        tenant.default_region = "HK" if n % 2 else ""
        tenant.set_access_secret(SECRET)
        tenant.save()
        tenants.append(tenant)

    def refresh(tenant):
        try:
            run = sync_tenant(tenant, trigger="bench")
            if run.status != "ok":
                sys.exit(f"refreshing {tenant.slug} failed: {run.error_message}")
        finally:
            connection.close()

    workers = 1 if connection.vendor == "sqlite" else 4
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(refresh, tenants))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return [t.slug for t in tenants]


def create_users(count: int) -> list[tuple[str, str]]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from groups.models import Tenant, TenantMembership

    logins = []
    export = Permission.objects.get(codename="export_numbers")
    for n in range(1, count + 1):
        password = secrets.token_urlsafe(12)
        user = get_user_model().objects.create_user(f"support{n:02d}", password=password)
        user.user_permissions.add(export)
        TenantMembership.objects.bulk_create(
            TenantMembership(user=user, tenant=tenant) for tenant in Tenant.objects.all()
        )
        logins.append((user.username, password))
    return logins


def sample_workload(slugs: list[str]) -> Workload:
    from groups.models import NumberGroup, PhoneNumber, Tenant

    current = list(Tenant.objects.values_list("current_snapshot", flat=True))
    slug_of = dict(Tenant.objects.values_list("current_snapshot", "slug"))
    groups = NumberGroup.objects.filter(snapshot__in=current).order_by("?")[:5_000]
    numbers = PhoneNumber.objects.filter(snapshot__in=current).order_by("?")[:5_000]
    return Workload(
        slugs=slugs,
        groups=[(slug_of[s], g) for s, g in groups.values_list("snapshot", "group_id")],
        numbers=list(numbers.values_list("digits", flat=True)),
    )


# --- the server and the clients ---------------------------------------------------------------


def run_server_and_measure(args, env, worker_class, slugs, logins, workload) -> None:
    port = _free_port()
    threads = args.threads if worker_class == "gthread" else 1
    server = subprocess.Popen(  # noqa: S603 - our own app
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "pns_admin.wsgi",
            f"--worker-class={worker_class}",
            f"--threads={threads}",
            f"--workers={args.workers}",
        ],
        cwd=PROJECT_DIR,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        mixed_clients = run_clients(port, logins, workload, MIX, args.seconds, env, args, slugs)
        records, refreshes = mixed_clients
        trivial, _ = run_clients(
            port, logins, workload, {"trivial": 1}, args.trivial_seconds, env, None, slugs
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(args, worker_class, threads, records, refreshes, trivial)


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not start")


def run_clients(port, logins, workload, mix, seconds, env, refresh_args, slugs):
    """Start one process per login; all begin together and run `seconds`. Returns every
    request as (kind, started, ms, error) and the refreshes run meanwhile."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    ready = context.Barrier(len(logins) + 1)
    processes = [
        context.Process(
            target=client,
            args=(n, port, login, workload, mix, seconds, ready, results),
            daemon=True,
        )
        for n, login in enumerate(logins)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=120)  # every client logged in
    refreshes = []
    if refresh_args is not None:
        stop = threading.Event()
        refresher = threading.Thread(
            target=refresh_periodically,
            args=(env, slugs, refresh_args.refresh_every, stop, refreshes),
        )
        refresher.start()
    records = []
    for _ in processes:
        outcome = results.get(timeout=seconds + 300)
        if isinstance(outcome, str):
            sys.exit(f"a client failed: {outcome}")
        records += outcome
    for process in processes:
        process.join()
    if refresh_args is not None:
        stop.set()
        refresher.join()
    return records, refreshes


def refresh_periodically(env, slugs, every: float, stop: threading.Event, refreshes) -> None:
    """Refresh the next tenant at 0 s, `every` s, twice `every` s and so on (one at a time)."""
    started = time.monotonic()
    n = 0
    while not stop.wait(timeout=max(0.0, started + n * every - time.monotonic())):
        slug = slugs[n % len(slugs)]
        n += 1
        begun = time.monotonic()
        finished = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "pns_sync", slug],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        refreshes.append((slug, time.monotonic() - begun, finished.returncode, finished.stderr))


def client(n, port, login, workload, mix, seconds, ready, results) -> None:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        cookie = log_in(connection, *login)
        rng = random.Random(n)
        kinds, weights = list(mix), list(mix.values())
        ready.wait(timeout=120)
        end = time.monotonic() + seconds
        records = []
        while time.monotonic() < end:
            kind = rng.choices(kinds, weights)[0]
            path = workload.path(kind, rng)
            started = time.monotonic()
            error = ""
            try:
                connection.request("GET", path, headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    error = f"HTTP {response.status} {path}"
            except (OSError, http.client.HTTPException) as failure:
                error = f"{type(failure).__name__} {path}"
                connection.close()
            records.append((kind, started, (time.monotonic() - started) * 1000, error))
        results.put(records)
    except Exception as failure:  # reported to the parent, which exits
        results.put(f"client {n}: {failure!r}")


def log_in(connection: http.client.HTTPConnection, username: str, password: str) -> str:
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    page = response.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    connection.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
        },
    )
    response = connection.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie", ""))
    if response.status != 302 or not session:
        raise RuntimeError(f"login of {username} failed: HTTP {response.status}")
    return f"csrftoken={csrf}; sessionid={session.group(1)}"


# --- the report -------------------------------------------------------------------------------


def report(args, worker_class, threads, records, refreshes, trivial) -> None:
    from django.db import connection

    duration = args.seconds
    print(
        f"\n{connection.vendor}, gunicorn {args.workers} x {worker_class}"
        f"{f' ({threads} threads)' if threads > 1 else ''}, {args.clients} clients, "
        f"{duration} s:"
    )
    print(f"  {'kind':<12} {'requests':>8} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} errors")
    met = True
    for kind in [*MIX, "all"]:
        rows = [r for r in records if kind in (r[0], "all")]
        ms = sorted(r[2] for r in rows)
        errors = sum(1 for r in rows if r[3])
        p50, p95, p99 = percentile(ms, 50), percentile(ms, 95), percentile(ms, 99)
        if kind in ("search", "group list", "group page") and p95 > PAGE_TARGET_MS:
            met = False
        print(
            f"  {kind:<12} {len(rows):>8,} {len(rows) / duration:>7.1f} {p50:>5.0f}ms "
            f"{p95:>5.0f}ms {p99:>5.0f}ms {errors:>6}"
        )
    failures = [r[3] for r in records if r[3]]
    for failure in sorted(set(failures))[:10]:
        print(f"    error: {failure}")
    ok = [r for r in refreshes if r[2] == 0]
    print(
        f"  refreshes: {len(refreshes)} ({len(ok)} ok), median "
        f"{statistics.median(r[1] for r in refreshes) if refreshes else 0:.1f} s each "
        f"(a pns_sync process, {args.phones // args.tenants:,} numbers)"
    )
    for slug, _, code, stderr in refreshes:
        if code:
            print(f"    refresh of {slug} failed: {stderr.strip()[-300:]}")
    trivial_rate = len(trivial) / args.trivial_seconds
    mixed_rate = len(records) / duration
    trivial_errors = sum(1 for r in trivial if r[3])
    print(
        f"  trivial view (/healthz): {trivial_rate:,.0f} req/s, p95 "
        f"{percentile(sorted(r[2] for r in trivial), 95):.0f} ms, {trivial_errors} errors; "
        f"the mix is {mixed_rate / trivial_rate:.2f}x of it"
    )
    print(
        f"  targets: 0 errors: {'met' if not failures else 'MISSED'}; p95 ≤ {PAGE_TARGET_MS} "
        f"ms for pages and searches: {'met' if met else 'MISSED'}"
    )


def percentile(ordered: list[float], p: int) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


if __name__ == "__main__":
    main()
