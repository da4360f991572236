"""Benchmark: one tenant's refresh (NXCloud read + snapshot write) from the simulator.

The simulator runs in its own process with a simulated network latency; the refresh runs
here through `groups.services.sync_tenant`, against SQLite or PostgreSQL:

    .venv/bin/python bench/sync.py                               # SQLite file in a temp dir
    .venv/bin/python bench/sync.py --database postgres://postgres@127.0.0.1:5432/pns_bench

Prints pages, upstream wall time, write time, numbers written per second and peak RSS, as
medians over --runs refreshes (the third and later also delete the snapshot before last).
Targets (issue 4): upstream ≤ 2 s, write ≥ 100,000 numbers/s, whole refresh ≤ 15 s.
"""

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench_database import prepare_django  # noqa: E402
from simulator_process import ACCESS_KEY, SECRET, start_simulator  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--phones", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    prepare_django(args.database)
    from django.db import connection

    from groups.models import Tenant
    from groups.services import sync_tenant

    simulator, url = start_simulator(
        groups=args.groups, phones=args.phones, latency_ms=args.latency_ms
    )
    try:
        Tenant.objects.filter(slug="bench").delete()
        tenant = Tenant(slug="bench", name="Bench", api_url=url, access_key=ACCESS_KEY)
        tenant.set_access_secret(SECRET)
        tenant.save()
        runs = []
        for n in range(1, args.runs + 1):
            started = time.perf_counter()
            run = sync_tenant(tenant, trigger="bench")
            total = time.perf_counter() - started
            if run.status != "ok":
                sys.exit(f"refresh {n} failed: {run.error_message}")
            runs.append((run, total))
            print(
                f"  run {n}: {run.groups:,} groups, {run.numbers:,} numbers, {run.pages_done} "
                f"pages; upstream {run.upstream_ms} ms, write {run.write_ms} ms, "
                f"whole {total:.2f} s"
            )
        Tenant.objects.filter(slug="bench").delete()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    upstream = statistics.median(r.upstream_ms for r, _ in runs) / 1000
    write = statistics.median(r.write_ms for r, _ in runs) / 1000
    whole = statistics.median(total for _, total in runs)
    numbers = runs[0][0].numbers
    print(f"database: {connection.vendor}; latency {args.latency_ms} ms; median of {len(runs)}")
    print(f"  pages:               {runs[0][0].pages_done}")
    print(f"  upstream wall time:  {upstream:.2f} s   (target ≤ 2 s)")
    print(f"  write time:          {write:.2f} s")
    print(f"  numbers written/s:   {numbers / write:,.0f}   (target ≥ 100,000)")
    print(f"  whole refresh:       {whole:.2f} s   (target ≤ 15 s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS:            {rss:.0f} MiB")


if __name__ == "__main__":
    main()
