"""gunicorn settings for `gunicorn pns_admin.wsgi`, read from the environment."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Sync workers: on bench/load.py's mixed traffic they served 12 to 15 % more requests than
# gthread with lower p95, and gthread dropped keep-alive connections when busy (clients saw
# RemoteDisconnected). Run behind a buffering proxy (deploy/), so slow clients never hold one.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A refresh of a big account can take a while before the background worker arrives.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Searches are GET requests so that results can be bookmarked; pasted lists make long URLs.
limit_request_line = 8190


def child_exit(server, worker):
    # /metrics adds up the workers' files in PROMETHEUS_MULTIPROC_DIR; a dead worker's
    # gauges must go (its counters stay, as Prometheus expects).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
