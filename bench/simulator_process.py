"""The PNS simulator in a process of its own, for benchmarks (so it does not share our GIL)."""

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ACCESS_KEY = "sim-ak-1"
SECRET = "bench-secret"  # noqa: S105 - the simulator's made-up account


def start_simulator(
    *, groups: int, phones: int, latency_ms: int, count: int = 1
) -> tuple[subprocess.Popen, str]:
    """`count` generated accounts (sim-ak-1 … with SECRET; the first is ACCESS_KEY), each of
    `groups` groups and `phones` numbers; returns the process and the API URL."""
    arguments = [
        "--port", "0", "--count", str(count), "--groups", str(groups), "--phones", str(phones),
        "--secret", SECRET, "--latency-ms", str(latency_ms),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "pns_simulator", *arguments],
        cwd=PROJECT_DIR,
        env={**os.environ, "DEBUG": "1", "DATABASE_URL": "sqlite:///:memory:"},
        stdout=subprocess.PIPE,
        text=True,
    )
    match = re.search(r"http://\S+/api/pns/", process.stdout.readline())
    if not match:
        process.kill()
        sys.exit("The simulator did not start.")
    return process, match.group(0)
