"""`python manage.py pns_grant USERNAME SLUG… [--revoke]`: who may see which tenant."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from groups import services
from groups.models import Tenant


class Command(BaseCommand):
    help = "Grant a user access to tenants (or revoke it with --revoke)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("slugs", nargs="+", metavar="SLUG")
        parser.add_argument("--revoke", action="store_true", help="Take the access away.")

    def handle(self, *args, username, slugs, revoke, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named '{username}'.") from None
        tenants = list(Tenant.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {t.slug for t in tenants})
        if unknown:
            raise CommandError(f"No tenant with slug: {', '.join(unknown)}. Nothing changed.")

        if revoke:
            changed = services.access_revoke(user=user, tenants=tenants)
            verb, unchanged_note = "Revoked", "had no access to"
        else:
            changed = services.access_grant(user=user, tenants=tenants)
            verb, unchanged_note = "Granted", "already had"
        unchanged = [t.slug for t in tenants if t not in changed]
        if changed:
            self.stdout.write(f"{verb} {username}: {', '.join(t.slug for t in changed)}.")
        if unchanged:
            self.stdout.write(f"{username} {unchanged_note}: {', '.join(unchanged)}.")
