"""Django for benchmarks: production settings (DEBUG off) on a fresh or emptied database."""

import os
import tempfile

BENCH_KEY = "3q2-7wNcaH8w6xKJ0m2dPqVbS1yZ5uT4rE9oI8lK7jA="  # a throwaway Fernet key


def prepare_django(database_url: str | None) -> dict[str, str]:
    """Configure and set up Django on `database_url` (default: a new SQLite file), empty it,
    migrate and collect static files. Returns the environment, for servers started later."""
    workdir = tempfile.mkdtemp(prefix="pns-bench-")
    os.environ.update(
        DATABASE_URL=database_url or f"sqlite:///{workdir}/bench.sqlite3",
        DJANGO_SETTINGS_MODULE="pns_admin.settings",
        DEBUG="0",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        ALLOWED_HOSTS="testserver,127.0.0.1",
        STATIC_ROOT=f"{workdir}/static",
        SECRET_KEY="bench-only-" + "x" * 40,
        PNS_ENCRYPTION_KEYS=BENCH_KEY,
    )
    os.environ.pop("PYTEST_VERSION", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if "groups_tenant" in connection.introspection.table_names():
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    return dict(os.environ)
