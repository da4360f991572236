"""`python manage.py pns_sync [SLUG…] [--all]`: refresh snapshots from NXCloud (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from groups.audit import command_line_user, record_event
from groups.models import AuditEvent, SyncRun, Tenant
from groups.services import sync_tenant


class Command(BaseCommand):
    help = "Refresh tenants' snapshots from NXCloud; exits non-zero when any refresh fails."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument("--all", action="store_true", help="Every active tenant.")

    def handle(self, *args, slugs, all, **options):
        if bool(slugs) == bool(all):
            raise CommandError("Name tenants by slug, or give --all (not both).")
        if all:
            tenants = list(Tenant.objects.filter(is_active=True))
        else:
            tenants = list(Tenant.objects.filter(slug__in=slugs))
            unknown = sorted(set(slugs) - {t.slug for t in tenants})
            if unknown:
                raise CommandError(f"No tenant with slug: {', '.join(unknown)}.")

        failures = []
        for tenant in tenants:
            record_event(AuditEvent.Action.REFRESH_REQUESTED, tenant=tenant, trigger="pns_sync")
            run = sync_tenant(tenant, trigger=f"pns_sync ({command_line_user()})")
            if run.status == SyncRun.Status.OK:
                self.stdout.write(
                    f"{tenant.slug}: {run.groups:,} groups, {run.numbers:,} numbers "
                    f"({run.pages_done} pages, NXCloud {run.upstream_ms} ms, "
                    f"saving {run.write_ms} ms)"
                )
            else:
                message = run.error_message or "did not finish"
                self.stderr.write(f"{tenant.slug}: FAILED: {message}")
                failures.append(tenant.slug)
        if failures:
            raise CommandError(f"{len(failures)} refresh(es) failed: {', '.join(failures)}.")
