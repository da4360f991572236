"""Our app in real processes, for tests that need them: gunicorn, the task worker."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent


def production_env(**overrides) -> dict[str, str]:
    """The environment of a production process: no pytest marker, DEBUG off."""
    # The browser tests' conftest allows the ORM next to Playwright's event loop; never here.
    test_only = {"PYTEST_VERSION", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env.update({"DEBUG": "0"})
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str]) -> subprocess.Popen:
    """gunicorn with our gunicorn.conf.py on env["GUNICORN_BIND"]; returns once it answers
    /healthz. Its output (access log included) is on the process's stdout."""
    server = subprocess.Popen(  # noqa: S603 - our own app
        [str(Path(sys.executable).with_name("gunicorn")), "pns_admin.wsgi"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_answering(server, f"http://{env['GUNICORN_BIND']}/healthz")
    except BaseException:
        server.kill()
        server.wait()
        raise
    return server


def _wait_until_answering(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn stopped: {server.stdout.read()}") from None
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start within 30 s") from None
            time.sleep(0.2)


def run_manage(*arguments, env, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *arguments],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
