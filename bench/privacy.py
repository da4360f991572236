"""Benchmark: what masking numbers and the Chinese interface cost a page (issue 10).

A group page of 1,000 and of 10,000 numbers through the real view (masked numbers come 500 a
page), for a user who sees numbers masked, for one who also gets a Show button (and its
encrypted token) per number, and with every number shown (all on one page); then the same
pages in Chinese; then a pasted list of 1,000 numbers found from their last 6 digits (masked
matches) against the same list typed in full:

    .venv/bin/python bench/privacy.py
    .venv/bin/python bench/privacy.py --database postgres://postgres@127.0.0.1:5432/pns_bench

Prints medians, ratios and page sizes; English and Chinese are measured alternately.
"""

import argparse
import random
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
    parser.add_argument("--samples", type=int, default=15)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    prepare_django(args.database)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction
    from django.test import Client

    from groups import nxcloud
    from groups.models import SyncRun, Tenant, TenantMembership
    from groups.privacy import mask_number, reveal_token
    from groups.services import _write_snapshot

    rng = random.Random(10)
    tenant = Tenant(slug="hk", name="Hong Kong", access_key="ak", default_region="HK")
    tenant.set_access_secret("bench")
    tenant.save()
    sizes = (1_000, 10_000)
    groups = [
        nxcloud.NumberGroup(
            f"g{size}", f"{size} numbers", "", "",
            tuple(f"852{rng.randrange(50_000_000, 99_999_999)}" for _ in range(size)),
        )
        for size in sizes
    ]  # fmt: skip
    run = SyncRun.objects.create(tenant=tenant, trigger="bench", status="ok")
    with transaction.atomic():
        snapshot = _write_snapshot(tenant, run, groups)
        Tenant.objects.filter(pk=tenant.pk).update(current_snapshot=snapshot)

    def user(name: str, *, reveal: bool) -> Client:
        account = get_user_model().objects.create_user(name, password=None)
        if reveal:
            account.user_permissions.add(Permission.objects.get(codename="view_full_numbers"))
        TenantMembership.objects.create(user=account, tenant=tenant)
        client = Client()
        client.force_login(account)
        return client

    masked, revealer = user("masked", reveal=False), user("revealer", reveal=True)

    def median_ms(request) -> tuple[float, int]:
        request()  # warm
        times, size = [], 0
        for _ in range(args.samples):
            begin = time.perf_counter()
            response = request()
            times.append((time.perf_counter() - begin) * 1000)
            if response.status_code != 200:
                sys.exit(f"answered {response.status_code}")
            size = len(response.content)
        return statistics.median(times), size

    def paired_ms(first, second) -> tuple[float, float]:
        """Medians of two requests measured alternately, so that the machine's load
        weighs on both alike."""
        first(), second()  # warm
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.samples):
            for request, bucket in ((first, times[0]), (second, times[1])):
                begin = time.perf_counter()
                if request().status_code != 200:
                    sys.exit("a request failed")
                bucket.append((time.perf_counter() - begin) * 1000)
        return statistics.median(times[0]), statistics.median(times[1])

    digits = groups[0].phones[0]
    count = 20_000
    begin = time.perf_counter()
    for _ in range(count):
        mask_number(digits, "+852 3575 3351")
    mask_us = (time.perf_counter() - begin) / count * 1e6
    begin = time.perf_counter()
    for _ in range(count):
        reveal_token(tenant.pk, digits)
    token_us = (time.perf_counter() - begin) / count * 1e6
    print(f"per number: mask {mask_us:.1f} µs, reveal token {token_us:.1f} µs")

    print(f"group page through the view ({connection.vendor}; median of {args.samples}):")
    for size in sizes:
        url = f"/t/hk/groups/g{size}/"
        plain, plain_bytes = median_ms(lambda url=url: masked.get(url))
        buttons, buttons_bytes = median_ms(lambda url=url: revealer.get(url))
        full, full_bytes = median_ms(lambda url=url: revealer.post(url + "reveal/"))
        english, chinese = paired_ms(
            lambda url=url: revealer.get(url),
            lambda url=url: revealer.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN"),
        )
        print(
            f"  {size:>6,} numbers  masked {plain:7.1f} ms ({plain_bytes / 1024:5.0f} KB)"
            f"  + Show buttons {buttons:7.1f} ms ({buttons_bytes / 1024:5.0f} KB, "
            f"x{buttons / plain:.2f})  all shown {full:7.1f} ms ({full_bytes / 1024:5.0f} KB)"
            f"  in Chinese {chinese:7.1f} ms (x{chinese / english:.2f} of English alongside)"
        )

    numbers = rng.sample(groups[1].phones, 1000)
    endings = "\n".join(n[-6:] for n in numbers)  # found from a part: masked matches
    typed = "\n".join("+" + n for n in numbers)  # typed in full: shown as typed
    print("pasted list of 1,000 numbers (median):")
    for label, text in (("last 6 digits", endings), ("in full", typed)):
        english, chinese = paired_ms(
            lambda text=text: revealer.post("/search/", {"q": text}),
            lambda text=text: revealer.post("/search/", {"q": text}, HTTP_ACCEPT_LANGUAGE="zh-CN"),
        )
        print(
            f"  {label:<14} English {english:7.1f} ms   Chinese {chinese:7.1f} ms "
            f"(x{chinese / english:.2f})"
        )


if __name__ == "__main__":
    main()
