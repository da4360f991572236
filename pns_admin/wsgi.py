"""WSGI entry point: `gunicorn pns_admin.wsgi` (settings in gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pns_admin.settings")

application = get_wsgi_application()
