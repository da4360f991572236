"""System checks: `manage.py check` says what is wrong with the encryption keys."""

from django.conf import settings
from django.core.checks import Error, register

from groups import encryption


@register()
def encryption_keys_check(app_configs, **kwargs):
    if settings.PNS_ENCRYPTION_KEYS:
        bad = encryption.invalid_key_positions()
        if bad:
            return [
                Error(
                    "PNS_ENCRYPTION_KEYS holds a value that is not a Fernet key at position(s) "
                    f"{', '.join(map(str, bad))}.",
                    hint="Each key is 32 url-safe base64-encoded bytes; see .env.example.",
                    id="pns.E002",
                )
            ]
        return []
    if settings.DEBUG or settings.TESTING:
        return []  # a key derived from SECRET_KEY; groups.encryption logs that when used
    return [
        Error(
            "PNS_ENCRYPTION_KEYS is not set: production needs at least one Fernet key to "
            "encrypt NXCloud access secrets.",
            hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"',
            id="pns.E001",
        )
    ]
