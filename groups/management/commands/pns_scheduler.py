"""`python manage.py pns_scheduler [--once] [--every SECONDS]`: keep every tenant fresh."""

import logging
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from groups.services import refresh_scheduled

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Refresh every active tenant whose snapshot is older than PNS_REFRESH_INTERVAL, with "
        "back-off for tenants whose refreshes keep failing. Refreshes are queued as tasks "
        "(TASK_BACKEND); run one scheduler per installation."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit (cron).")
        parser.add_argument(
            "--every", type=float, default=30, help="Seconds between passes (default 30)."
        )

    def handle(self, *args, once, every, **options):
        if every <= 0:
            raise CommandError("--every must be a positive number of seconds.")
        try:
            while True:
                try:
                    for run in refresh_scheduled():
                        status = run.get_status_display().lower()
                        self.stdout.write(f"{run.tenant.slug}: refresh {status}")
                except DatabaseError as error:
                    if once:
                        raise CommandError(f"The database did not answer: {error}") from None
                    logger.warning("pns_scheduler: database error, next pass in %ss", every)
                if once:
                    return
                close_old_connections()  # a long-lived process: drop broken or old ones
                time.sleep(every)
        except KeyboardInterrupt:
            self.stdout.write("Stopping.")
