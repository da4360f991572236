"""Several app instances on PostgreSQL and Redis: two gunicorn instances and one task worker
share sessions, refresh progress and the one-read-per-tenant rule."""

import io
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from groups.models import SyncRun
from groups.services import sync_tenant
from groups.simulator import generate_groups
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, PASSWORD, create_tenant, create_user
from tests.servers import PROJECT_DIR, free_port, production_env, run_manage, start_gunicorn

FERNET_KEY = "3q2-7wNcaH8w6xKJ0m2dPqVbS1yZ5uT4rE9oI8lK7jA="
METRICS_TOKEN = "scale-out-metrics"

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="several instances need PostgreSQL (DATABASE_URL is SQLite); CI runs it there",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def cluster(simulator, settings, tmp_path_factory):
    """Instances A and B and one `db_worker`, on the test database and Redis; the tenant's
    three listGroup pages take 0.4 s each, so a refresh can be watched."""
    settings.PNS_ENCRYPTION_KEYS = [FERNET_KEY]
    # A password the instances can check: they use production's hashers, not the tests' MD5.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    simulator.add_account(
        ACCESS_KEY, ACCESS_SECRET, generate_groups(random.Random(3), groups=2_500, phones=9_000)
    )
    simulator.latency_ms = 400
    tenant = create_tenant(
        "shared", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url
    )
    create_user("helper", tenants=[tenant])

    database = connection.settings_dict
    env = production_env(
        SECRET_KEY="scale-out-" + "k" * 50,
        PNS_ENCRYPTION_KEYS=FERNET_KEY,
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        CACHE_URL="redis://127.0.0.1:6379/13",
        TASK_BACKEND="database",
        PNS_MAX_WORKERS="1",  # one page after another: progress in steps
        WEB_CONCURRENCY="2",
        LOG_LEVEL="WARNING",
        STATIC_ROOT=str(tmp_path_factory.mktemp("static")),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path_factory.mktemp("metrics")),
        PNS_METRICS_TOKEN=METRICS_TOKEN,
    )
    collected = run_manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    processes = []
    try:
        urls = []
        for _ in range(2):
            bind = f"127.0.0.1:{free_port()}"
            processes.append(start_gunicorn({**env, "GUNICORN_BIND": bind}))
            urls.append(f"http://{bind}")
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.2", "--no-reload"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(worker)
        yield tenant, *urls, worker
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def log_in(session: requests.Session, base: str) -> None:
    page = session.get(f"{base}/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": "helper", "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302


def refresh(session: requests.Session, base: str, slug: str) -> requests.Response:
    page = session.get(f"{base}/t/{slug}/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(
        f"{base}/t/{slug}/refresh/",
        data={"csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )


def banner(session: requests.Session, base: str, slug: str) -> str:
    """The freshness banner, as the page's script polls it."""
    html = session.get(f"{base}/t/{slug}/freshness/", headers={"HX-Request": "true"}, timeout=10)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.text))


def test_two_instances_share_the_session_and_follow_one_refresh(cluster, simulator):
    tenant, a, b, _ = cluster
    session = requests.Session()
    log_in(session, a)
    overview = session.get(f"{b}/", allow_redirects=False, timeout=10)
    assert overview.status_code == 200 and "Shared" in overview.text  # logged in on B too

    started = time.monotonic()
    assert refresh(session, a, tenant.slug).status_code == 302
    assert time.monotonic() - started < 1.2  # A queued it: no page waited on NXCloud

    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = banner(session, b, tenant.slug)
        step = re.search(r"queued|page \d of 3", text)
        if step and step.group(0) not in seen:
            seen.append(step.group(0))
        if "Refreshing" not in text and seen:
            break
        time.sleep(0.1)
    assert any(step.startswith("page") for step in seen), seen  # B watched it progress
    page = session.get(f"{b}/t/{tenant.slug}/", timeout=10).text
    assert "2,500 groups" in page
    assert SyncRun.objects.get(tenant=tenant).status == "ok"
    assert simulator.call_count("listGroup") == 3

    # Either instance's /metrics adds up every process of the machine: the worker's calls
    # to NXCloud, and the requests both instances answered.
    scrape = requests.get(
        f"{a}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    assert 'pns_nxcloud_calls_total{action="listGroup",code="0"} 3.0' in scrape
    assert re.search(
        r'pns_http_request_duration_seconds_count\{view="tenant_freshness"\} [1-9]', scrape
    )
    assert 'pns_refresh_runs_total{status="ok",tenant="shared"} 1.0' in scrape


def test_refreshes_asked_on_both_instances_at_once_read_nxcloud_once(cluster, simulator):
    tenant, a, b, _ = cluster
    sessions = {base: requests.Session() for base in (a, b)}
    for base, session in sessions.items():
        log_in(session, base)
    answers = []
    threads = [
        threading.Thread(target=lambda s=s, u=u: answers.append(refresh(s, u, tenant.slug)))
        for u, s in sessions.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [302, 302]

    deadline = time.monotonic() + 60
    while SyncRun.objects.filter(tenant=tenant, status__in=["queued", "running"]).exists():
        assert time.monotonic() < deadline, "the refresh did not finish"
        time.sleep(0.2)
    assert list(SyncRun.objects.filter(tenant=tenant).values_list("status", flat=True)) == ["ok"]
    assert simulator.call_count("listGroup") == 3  # one read of three pages


def test_a_worker_killed_mid_refresh_keeps_the_snapshot_and_the_schedule_recovers(
    cluster, simulator, settings
):
    tenant, a, _, worker = cluster
    good = sync_tenant(tenant)
    session = requests.Session()
    log_in(session, a)
    refresh(session, a, tenant.slug)
    deadline = time.monotonic() + 30
    while not SyncRun.objects.filter(tenant=tenant, status="running", pages_done__gte=1):
        assert time.monotonic() < deadline, "the worker did not start the refresh"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # mid-read: pages 2 and 3 are still to come
    worker.wait()

    tenant.refresh_from_db()
    assert tenant.current_snapshot == good.snapshot
    assert "2,500 groups" in session.get(f"{a}/t/{tenant.slug}/", timeout=10).text

    # Later, the scheduler finds the run silent, marks it failed and (when due) refreshes.
    settings.PNS_SYNC_HEARTBEAT_TIMEOUT = 1
    settings.PNS_REFRESH_INTERVAL = timedelta(0)
    time.sleep(1.5)
    call_command("pns_scheduler", "--once", stdout=io.StringIO())
    dead, recovered = SyncRun.objects.filter(tenant=tenant).order_by("pk")[1:]
    assert dead.status == "failed" and "stopped answering" in dead.error_message
    assert recovered.status == "ok" and recovered.trigger == "scheduler"
    tenant.refresh_from_db()
    assert tenant.current_snapshot.sync_run == recovered
