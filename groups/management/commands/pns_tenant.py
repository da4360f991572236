"""`python manage.py pns_tenant add|list|update|remove|test`: tenants, for automation.

The access secret is read from standard input (a prompt on a terminal), never from the
command line, where other users can see it in the process list.
"""

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from groups import services
from groups.models import Tenant
from groups.nxcloud import DEFAULT_API_URL


def one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Add, list, update, remove and test tenants (NXCloud accounts)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

        add = commands.add_parser("add", help="Add a tenant; the secret comes on stdin.")
        add.add_argument("slug")
        add.add_argument("--name", required=True)
        add.add_argument("--access-key", required=True)
        add.add_argument("--api-url", default=DEFAULT_API_URL)
        add.add_argument("--algorithm", choices=Tenant.Algorithm.values, default="md5")
        add.add_argument("--notes", default="")
        add.add_argument("--default-region", default="", metavar="REGION", help="e.g. HK")
        add.add_argument("--inactive", action="store_true", help="Create it switched off.")

        commands.add_parser("list", help="List tenants.")

        update = commands.add_parser("update", help="Change a tenant's fields.")
        update.add_argument("slug")
        update.add_argument("--name")
        update.add_argument("--new-slug")
        update.add_argument("--access-key")
        update.add_argument("--api-url")
        update.add_argument("--algorithm", choices=Tenant.Algorithm.values)
        update.add_argument("--notes")
        update.add_argument("--default-region", metavar="REGION")
        active = update.add_mutually_exclusive_group()
        active.add_argument("--active", dest="is_active", action="store_true", default=None)
        active.add_argument("--inactive", dest="is_active", action="store_false")
        update.add_argument(
            "--secret-from-stdin", action="store_true", help="Replace the access secret."
        )

        remove = commands.add_parser("remove", help="Remove a tenant and its grants.")
        remove.add_argument("slug")

        test = commands.add_parser("test", help="Call listGroup with limit 1.")
        test.add_argument("slug")

    def handle(self, *args, subcommand, **options):
        self.stdin = options.get("stdin") or sys.stdin
        try:
            getattr(self, f"_{subcommand}")(**options)
        except ValidationError as error:
            raise CommandError(one_line(error)) from None

    def _tenant(self, slug: str) -> Tenant:
        try:
            return Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist:
            raise CommandError(f"No tenant with slug '{slug}'.") from None

    def _read_secret(self) -> str:
        if self.stdin.isatty():
            secret = getpass.getpass("Access secret: ")
        else:
            secret = self.stdin.readline().rstrip("\r\n")
        if not secret.strip():
            raise CommandError("No access secret on standard input.")
        return secret.strip()

    def _add(
        self, *, slug, name, access_key, api_url, algorithm, notes, inactive, default_region, **_
    ):
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant with slug '{slug}' exists already.")
        tenant = Tenant(
            slug=slug,
            name=name,
            access_key=access_key,
            api_url=api_url,
            algorithm=algorithm,
            notes=notes,
            default_region=default_region.upper(),
            is_active=not inactive,
        )
        services.tenant_save(tenant=tenant, access_secret=self._read_secret())
        self.stdout.write(f"Added tenant {tenant.slug} ({tenant.name}).")

    def _list(self, **_):
        rows = [("SLUG", "NAME", "ACCESS KEY", "SIGNING", "ACTIVE", "SECRET", "USERS")]
        for tenant in Tenant.objects.all().prefetch_related("memberships"):
            rows.append(
                (
                    tenant.slug,
                    tenant.name,
                    tenant.access_key,
                    tenant.algorithm,
                    "yes" if tenant.is_active else "no",
                    "set" if tenant.has_access_secret else "missing",
                    str(len(tenant.memberships.all())),
                )
            )
        if len(rows) == 1:
            self.stdout.write("No tenants.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))

    def _update(self, *, slug, secret_from_stdin, **options):
        tenant = self._tenant(slug)
        fields = {
            "name": options["name"],
            "slug": options["new_slug"],
            "access_key": options["access_key"],
            "api_url": options["api_url"],
            "algorithm": options["algorithm"],
            "notes": options["notes"],
            "default_region": (options["default_region"] or "").upper() or None,
            "is_active": options["is_active"],
        }
        changes = {field: value for field, value in fields.items() if value is not None}
        if not changes and not secret_from_stdin:
            raise CommandError("Nothing to update: give at least one option.")
        if (
            "slug" in changes
            and Tenant.objects.filter(slug=changes["slug"]).exclude(pk=tenant.pk).exists()
        ):
            raise CommandError(f"A tenant with slug '{changes['slug']}' exists already.")
        secret = self._read_secret() if secret_from_stdin else ""
        for field, value in changes.items():
            setattr(tenant, field, value)
        services.tenant_save(tenant=tenant, access_secret=secret)
        what = sorted(changes) + (["access secret"] if secret else [])
        self.stdout.write(f"Updated tenant {tenant.slug}: {', '.join(what)}.")

    def _remove(self, *, slug, **_):
        tenant = self._tenant(slug)
        services.tenant_remove(tenant=tenant)
        self.stdout.write(f"Removed tenant {slug}.")

    def _test(self, *, slug, **_):
        tenant = self._tenant(slug)
        result = services.tenant_test_connection(tenant=tenant)
        if not result.ok:
            raise CommandError(f"{tenant.slug}: {result.message}")
        self.stdout.write(f"{tenant.slug}: {result.message}")
