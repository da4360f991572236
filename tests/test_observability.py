"""What operators watch: liveness and readiness, request ids in JSON log lines, metrics."""

import io
import json
import logging
import re
from http import HTTPStatus

import pytest
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from groups import observability
from groups.observability import JsonFormatter, RequestIdFilter
from groups.services import sync_tenant
from tests.conftest import create_tenant, create_user
from tests.servers import production_env, run_manage

TOKEN = "scrape-token-4f9a"


# --- liveness and readiness -------------------------------------------------------------------


def test_healthz_says_the_process_is_up_without_login_or_database(client, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/healthz")
    assert (response.status_code, response.content) == (HTTPStatus.OK, b"ok")
    assert "no-cache" in response["Cache-Control"]


def refuse(*args, **kwargs):
    raise DatabaseError("connection refused")


def test_readyz_is_ready_when_database_cache_and_migrations_are(client, db):
    response = client.get("/readyz")
    assert (response.status_code, response.content) == (HTTPStatus.OK, b"ready")


def test_readyz_says_what_is_wrong_when_the_database_does_not_answer(client, db, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.content == b"database: not answering (DatabaseError)"


def test_readyz_says_what_is_wrong_when_the_cache_does_not_answer(client, db, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard port: nothing listens
        }
    }
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.content.startswith(b"cache: not answering (")


def test_readyz_is_not_ready_before_the_migrations_are_applied(client, db, monkeypatch):
    monkeypatch.setattr(observability, "_migrations_checked", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["pending"])
    response = client.get("/readyz")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert b"migrations not applied" in response.content


# --- request ids and log lines ----------------------------------------------------------------


@pytest.fixture
def json_log():
    """A JSON log handler on the root logger, as LOG_FORMAT=json sets it up."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_every_log_line_of_a_request_carries_its_id(client, db, monkeypatch, json_log):
    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = client.get("/readyz")  # logs a warning
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    warning = next(line for line in lines if line["logger"] == "groups.views")
    assert warning["request_id"] == request_id
    assert warning["level"] == "WARNING"
    assert warning["message"].startswith("readyz: not ready: database")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", warning["time"])


def test_the_proxy_request_id_is_kept_and_a_malformed_one_replaced(client, db):
    kept = client.get("/healthz", headers={"X-Request-ID": "nginx-7f3a9c2e"})
    assert kept["X-Request-ID"] == "nginx-7f3a9c2e"
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def test_an_unknown_log_format_is_refused_with_a_message():
    result = run_manage("check", env=production_env(SECRET_KEY="x" * 60, LOG_FORMAT="xml"))
    assert result.returncode != 0
    assert "LOG_FORMAT='xml' is not one of: plain, json." in result.stderr


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_are_off_without_a_token_and_refused_with_a_wrong_one(client, db, settings):
    assert client.get("/metrics").status_code == HTTPStatus.NOT_FOUND
    settings.PNS_METRICS_TOKEN = TOKEN
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == HTTPStatus.UNAUTHORIZED
    assert client.get("/metrics").status_code == HTTPStatus.UNAUTHORIZED


def test_metrics_show_requests_nxcloud_calls_refreshes_and_snapshot_ages(
    client, db, settings, simulator, account
):
    from tests.conftest import ACCESS_KEY, ACCESS_SECRET

    tenant = create_tenant(
        "sim", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url
    )
    sync_tenant(tenant)
    simulator.inject("error_code", code=1005, times=None)
    sync_tenant(tenant)
    client.force_login(create_user("helper", tenants=[tenant]))
    client.get("/")
    settings.PNS_METRICS_TOKEN = TOKEN

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert re.search(r'pns_http_request_duration_seconds_count\{view="home"\} [1-9]', text)
    assert re.search(r'pns_nxcloud_calls_total\{action="listGroup",code="0"\} [1-9]', text)
    assert re.search(r'pns_nxcloud_calls_total\{action="listGroup",code="1005"\} [1-9]', text)
    assert 'pns_refresh_runs_total{status="ok",tenant="sim"} 1.0' in text
    assert 'pns_refresh_runs_total{status="failed",tenant="sim"} 1.0' in text
    assert 'pns_refresh_failures_in_a_row{tenant="sim"} 1.0' in text
    age = re.search(r'pns_snapshot_age_seconds\{tenant="sim"\} ([0-9.]+)', text)
    assert age and 0 <= float(age.group(1)) < 60
    assert re.search(r'pns_refresh_seconds_total\{tenant="sim"\} [0-9.]+', text)
    assert ACCESS_SECRET not in text
