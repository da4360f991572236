"""The Django project itself: settings from the environment, login, health check, demo, serving."""

import io
import os
import re
import socket
from http import HTTPStatus

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from tests.conftest import log_in
from tests.servers import PROJECT_DIR, free_port, production_env, run_manage, start_gunicorn

FERNET_KEY = "3q2-7wNcaH8w6xKJ0m2dPqVbS1yZ5uT4rE9oI8lK7jA="


# --- pages ----------------------------------------------------------------------------------


def test_the_overview_needs_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_the_login_page_is_ours(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == HTTPStatus.OK
    templates = [t.name for t in response.templates]
    assert "registration/login.html" in templates
    assert "base.html" in templates
    assert b"PNS Admin" in response.content
    assert b"/static/css/app.css" in response.content


def test_logging_in_leads_to_the_overview_and_logging_out_back(client, db):
    get_user_model().objects.create_user("support", password="a-long-passphrase-1")
    response = log_in(client, "support", "a-long-passphrase-1")
    assert response["Location"] == reverse("home")
    response = client.get(response["Location"])
    assert b"support" in response.content
    assert b"Log out" in response.content

    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert client.get(reverse("home")).status_code == HTTPStatus.FOUND


def test_a_wrong_password_is_a_form_error_not_a_crash(client, db):
    get_user_model().objects.create_user("support", password="a-long-passphrase-1")
    response = client.post(reverse("login"), {"username": "support", "password": "nope"})
    assert response.status_code == HTTPStatus.OK
    assert b"Please enter a correct username and password" in response.content


def test_pages_load_no_external_assets(client, db):
    admin = get_user_model().objects.create_superuser("boss", password="a-long-passphrase-1")
    client.force_login(admin)
    for url in (reverse("home"), reverse("login")):
        html = client.get(url).content.decode()
        assert not re.search(r"""(src|href)=["'](https?:)?//""", html), url


# --- settings -------------------------------------------------------------------------------


def test_production_without_secret_key_refuses_to_start_with_one_clear_line():
    result = run_manage("check", env=production_env())
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_with_secret_key_passes_the_system_check():
    result = run_manage(
        "check", env=production_env(SECRET_KEY="x" * 60, PNS_ENCRYPTION_KEYS=FERNET_KEY)
    )
    assert result.returncode == 0, result.stderr


def test_the_settings_read_urls_for_database_and_cache():
    script = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME']);"
        "print(s.CACHES['default']['BACKEND'])"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        env=production_env(
            SECRET_KEY="x" * 60,
            DATABASE_URL="postgres://pns@127.0.0.1:5432/pns_admin",
            CACHE_URL="redis://127.0.0.1:6379/0",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "django.db.backends.postgresql pns_admin",
        "django.core.cache.backends.redis.RedisCache",
    ]


def redis_is_up():
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    not redis_is_up() and not os.environ.get("PNS_REQUIRE_SERVICES"),
    reason="no Redis on 127.0.0.1:6379 (CI sets PNS_REQUIRE_SERVICES=1 and starts one)",
)
def test_the_cache_works_on_redis():
    script = (
        "from django.core.cache import cache; import uuid; key = uuid.uuid4().hex;"
        "cache.set(key, 'kept', 30); print(cache.get(key)); cache.delete(key)"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        env=production_env(SECRET_KEY="x" * 60, CACHE_URL="redis://127.0.0.1:6379/15"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kept"


def test_env_example_documents_every_variable_the_settings_read():
    read = set()
    for path in (PROJECT_DIR / "pns_admin" / "settings.py", PROJECT_DIR / "gunicorn.conf.py"):
        source = path.read_text()
        read |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z_]+)["']""", source))
        read |= set(re.findall(r"""environ\.get\(\s*["']([A-Z_]+)["']""", source))
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z_]+)=", (PROJECT_DIR / ".env.example").read_text(), re.M)
    )
    assert "SECRET_KEY" in read and "GUNICORN_BIND" in read
    assert read - documented == set()


# --- the demo -------------------------------------------------------------------------------


@override_settings(DEBUG=True)
def test_the_demo_setup_creates_tenants_and_two_users_who_can_log_in(client, db):
    out = io.StringIO()
    call_command("pns_demo", "--setup-only", "--password", "demo-pass-123", stdout=out)
    passwords = dict(re.findall(r"Log in as (\w+) +password (\S+)", out.getvalue()))
    assert passwords["admin"] == "demo-pass-123"

    log_in(client, "admin", passwords["admin"])
    assert [row.tenant.slug for row in client.get("/").context["rows"]] == [
        "global-sales",
        "hk-hotline",
        "cn-support",
    ]
    client.post("/accounts/logout/")
    log_in(client, "support", passwords["support"])
    assert [row.tenant.slug for row in client.get("/").context["rows"]] == [
        "hk-hotline",
        "cn-support",
    ]
    assert get_user_model().objects.get(username="admin").is_superuser
    assert not get_user_model().objects.get(username="support").is_staff


def test_the_demo_refuses_to_run_without_debug(db):
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("pns_demo", "--setup-only")


# --- serving in production ------------------------------------------------------------------


def test_gunicorn_serves_the_app_and_hashed_compressed_static_files(tmp_path):
    env = production_env(
        SECRET_KEY="x" * 60,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        WEB_CONCURRENCY="1",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
    )
    collected = run_manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    server = start_gunicorn(env)
    base = f"http://{env['GUNICORN_BIND']}"
    try:
        health = requests.get(f"{base}/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok")

        login = requests.get(f"{base}/accounts/login/", timeout=5)
        assert login.status_code == 200
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', login.text)
        assert stylesheet, "no hashed stylesheet in the page"
        css = requests.get(
            base + stylesheet.group(1), headers={"Accept-Encoding": "gzip"}, timeout=5
        )
        assert css.status_code == 200
        assert css.headers["Content-Encoding"] == "gzip"
        assert "max-age=315360000" in css.headers["Cache-Control"]
        assert login.headers["X-Frame-Options"] == "DENY"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert '"GET /healthz HTTP/1.1" 200' in output  # the access log goes to stdout


def test_production_settings_pass_the_deployment_checks():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production_env(
            SECRET_KEY="Zx8-" + "q7Lm2Pw9Rt4Vb6Nc1Hk3Jd5Fg8Sa0" * 2,
            PNS_ENCRYPTION_KEYS=FERNET_KEY,
            HTTPS="1",
            ALLOWED_HOSTS="pns.example.com",
        ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_pages_carry_a_strict_content_security_policy(client, db):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
