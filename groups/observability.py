"""Request ids, JSON log lines and request timing: what operators need to follow a request
through the logs of several instances."""

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

from groups import metrics

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# A request id from the proxy in front (nginx's $request_id) is kept when it looks like one.
INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives each request an id (the proxy's X-Request-ID, or a new one), puts it on every
    log line of the request and on the response, and times the request for /metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if INCOMING_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unmatched"
        metrics.observe_request(view, time.perf_counter() - started)
        response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the
    traceback, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_migrations_checked = False


def readiness_problems() -> list[str]:
    """What keeps this instance from serving: the database, the cache, unapplied
    migrations. Empty when it is ready."""
    global _migrations_checked
    from django.core.cache import cache
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    problems = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        if not _migrations_checked:
            executor = MigrationExecutor(connection)
            if executor.migration_plan(executor.loader.graph.leaf_nodes()):
                problems.append("database: migrations not applied (run manage.py migrate)")
            else:
                _migrations_checked = True  # once applied, they stay applied for this process
    except DatabaseError as error:
        problems.append(f"database: not answering ({type(error).__name__})")
    try:
        probe = f"readyz:{uuid.uuid4().hex}"
        cache.set(probe, "1", timeout=10)
        if cache.get(probe) != "1":
            problems.append("cache: a value written could not be read back")
        cache.delete(probe)
    except Exception as error:  # every cache backend raises its own errors
        problems.append(f"cache: not answering ({type(error).__name__})")
    return problems
