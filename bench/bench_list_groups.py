"""Benchmark: reading a whole account with `PnsClient.list_groups()` from the simulator.

Runs the simulator in its own process (so it does not share our GIL), then reads every group
several times with 1 and with N concurrent page readers, and prints medians and the ratio.

    .venv/bin/python bench/bench_list_groups.py --groups 100000 --phones 1000000 --latency-ms 50
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from simulator_process import ACCESS_KEY, SECRET, start_simulator  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pns_admin.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from groups.nxcloud import PnsClient  # noqa: E402


def timed_reads(url: str, workers: int, runs: int) -> tuple[list[float], int, int]:
    seconds = []
    groups = numbers = 0
    for _ in range(runs):
        with PnsClient(url, ACCESS_KEY, SECRET, max_workers=workers) as client:
            started = time.perf_counter()
            result = client.list_groups()
            seconds.append(time.perf_counter() - started)
        groups, numbers = len(result), sum(len(g.phones) for g in result)
    return seconds, groups, numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=20_000)
    parser.add_argument("--phones", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=int, default=50, help="simulated network latency")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    process, url = start_simulator(
        groups=args.groups, phones=args.phones, latency_ms=args.latency_ms
    )
    print(f"simulator ready in {time.perf_counter() - started:.1f} s: {url}")
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        serial, groups, numbers = timed_reads(url, 1, args.runs)
        parallel, _, _ = timed_reads(url, args.workers, args.runs)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        process.terminate()
        process.wait(timeout=10)

    pages = -(-groups // 1000)
    print(
        f"account: {groups:,} groups, {numbers:,} numbers, {pages} pages, "
        f"latency {args.latency_ms} ms, {args.runs} runs each"
    )
    for label, series in (("1 reader", serial), (f"{args.workers} readers", parallel)):
        print(
            f"  {label:>10}: median {statistics.median(series):.2f} s "
            f"(min {min(series):.2f}, max {max(series):.2f})"
        )
    print(
        f"  speed-up with {args.workers} readers: "
        f"{statistics.median(serial) / statistics.median(parallel):.2f}x"
    )
    print(
        f"  client peak RSS: {rss_after / 1024:.0f} MiB (before reads {rss_before / 1024:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
