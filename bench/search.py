"""Benchmark: number search through the real view, with a logged-in client.

1,000,000 numbers in 100,000 groups across 50 tenants (written with the refresh's own
snapshot writer), on SQLite or PostgreSQL:

    .venv/bin/python bench/search.py
    .venv/bin/python bench/search.py --database postgres://postgres@127.0.0.1:5432/pns_bench

Prints p50/p95 per kind of search with the target beside it (issue 5).
"""

import argparse
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench_database import prepare_django  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--groups", type=int, default=100_000, help="in all tenants")
    parser.add_argument("--phones", type=int, default=1_000_000, help="in all tenants")
    parser.add_argument("--samples", type=int, default=200)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    prepare_django(args.database)
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client

    from groups import nxcloud
    from groups.models import SyncRun, Tenant
    from groups.services import _write_snapshot
    from groups.simulator import generate_groups

    started = time.perf_counter()
    rng = random.Random(5)
    every_number = []
    for n in range(args.tenants):
        tenant = Tenant(slug=f"t{n:02d}", name=f"Tenant {n:02d}", access_key=f"ak{n}")
        tenant.default_region = "HK" if n % 2 == 0 else ""
        tenant.set_access_secret("bench")
        tenant.save()
        generated = generate_groups(
            rng, groups=args.groups // args.tenants, phones=args.phones // args.tenants
        )
        groups = [
            nxcloud.NumberGroup(g.group_id, g.name, g.customer_id, g.remark, tuple(g.phones))
            for g in generated
        ]
        every_number += [p for g in groups for p in g.phones]
        run = SyncRun.objects.create(tenant=tenant, trigger="bench", status="ok")
        with transaction.atomic():
            snapshot = _write_snapshot(tenant, run, groups)
            Tenant.objects.filter(pk=tenant.pk).update(current_snapshot=snapshot)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"loaded {len(every_number):,} numbers in {args.groups:,} groups across "
        f"{args.tenants} tenants in {time.perf_counter() - started:.1f} s ({connection.vendor})"
    )

    user = get_user_model().objects.create_superuser("bench", password=secrets.token_urlsafe())
    client = Client()
    client.force_login(user)

    def timed(params) -> float:
        begin = time.perf_counter()
        response = client.get("/search/", params)
        elapsed = (time.perf_counter() - begin) * 1000
        if response.status_code != 200:
            sys.exit(f"/search/ answered {response.status_code}")
        return elapsed

    sample = rng.sample(every_number, args.samples)
    hk = [p for p in every_number if p.startswith("852")]
    report = []

    def measure(label, queries, target_ms, anywhere=False):
        timed({"q": queries[0]})  # warm
        times = sorted(timed({"q": q, **({"anywhere": "on"} if anywhere else {})}) for q in queries)
        p50 = statistics.median(times)
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        verdict = "met" if p95 <= target_ms else "MISSED"
        report.append(
            f"  {label:<44} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms   "
            f"target p95 ≤ {target_ms} ms: {verdict}"
        )

    measure("one number, exact (+852 3575 3351 form)", [f"+{p}" for p in sample], 20)
    measure(
        "one number, national (8 digits, ends with)",
        [p[-8:] for p in rng.sample(hk, args.samples)],
        20,
    )
    measure("one number, last 6 digits (ends with)", [p[-6:] for p in sample], 20)
    contains_target = 20 if connection.vendor == "postgresql" else 100
    measure(
        "contains, 5 digits from the middle",
        [p[3:8] for p in sample[:40]],
        contains_target,
        anywhere=True,
    )
    lists = ["\n".join(rng.sample(every_number, 1000)) for _ in range(5)]
    list_times = sorted(timed({"q": text}) for text in lists)
    report.append(
        f"  {'pasted list of 1,000 numbers':<44} p50 {statistics.median(list_times):7.1f} ms  "
        f"max {list_times[-1]:7.1f} ms   target ≤ 1000 ms: "
        f"{'met' if list_times[-1] <= 1000 else 'MISSED'}"
    )
    print(f"search through the view ({connection.vendor}, {args.samples} samples each):")
    print("\n".join(report))


if __name__ == "__main__":
    main()
