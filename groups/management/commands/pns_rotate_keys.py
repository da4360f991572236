"""`python manage.py pns_rotate_keys`: re-encrypt every access secret with the newest key.

Rotation: put a new key first in PNS_ENCRYPTION_KEYS (keep the old ones after it), run this,
then remove the old keys.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from groups import services
from groups.encryption import SecretUnreadable, keys_are_derived


class Command(BaseCommand):
    help = "Re-encrypt every stored NXCloud access secret with the newest PNS_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        try:
            count = services.secrets_rotate()
        except (SecretUnreadable, ImproperlyConfigured) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Re-encrypted {count} access secret{'s' if count != 1 else ''} with the newest key."
        )
        if keys_are_derived():
            self.stdout.write(
                "Note: PNS_ENCRYPTION_KEYS is not set; the key is derived from SECRET_KEY."
            )
