"""Secrets at rest: NXCloud access secrets are stored as Fernet tokens.

Keys come from `PNS_ENCRYPTION_KEYS` (comma-separated Fernet keys, newest first) through a
MultiFernet: the newest key encrypts, every listed key decrypts, and `rotate()` re-encrypts a
token with the newest key. With no keys set, DEBUG mode and the tests derive one from
`SECRET_KEY` (the system check says so); production refuses to run without keys.
"""

import base64
import logging
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

logger = logging.getLogger(__name__)


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def keys_are_derived() -> bool:
    return not settings.PNS_ENCRYPTION_KEYS


def invalid_key_positions() -> list[int]:
    """1-based positions of configured keys that are not Fernet keys (never the keys)."""
    positions = []
    for position, key in enumerate(settings.PNS_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            positions.append(position)
    return positions


@cache
def _multi_fernet() -> MultiFernet:
    keys = list(settings.PNS_ENCRYPTION_KEYS)
    if not keys:
        if not (settings.DEBUG or settings.TESTING):
            raise ImproperlyConfigured(
                "PNS_ENCRYPTION_KEYS is not set: production needs at least one Fernet key to "
                "encrypt NXCloud access secrets (see .env.example)."
            )
        logger.warning(
            "PNS_ENCRYPTION_KEYS is not set: access secrets are encrypted with a key derived "
            "from SECRET_KEY (DEBUG and tests only; production needs PNS_ENCRYPTION_KEYS)."
        )
        keys = [_key_derived_from_secret_key()]
    if invalid_key_positions():
        raise ImproperlyConfigured(
            "PNS_ENCRYPTION_KEYS holds a value that is not a Fernet key at position(s) "
            f"{', '.join(map(str, invalid_key_positions()))}."
        )
    return MultiFernet([Fernet(key) for key in keys])


def _key_derived_from_secret_key() -> str:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pns-admin access secrets")
    return base64.urlsafe_b64encode(kdf.derive(settings.SECRET_KEY.encode())).decode()


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs) -> None:
    if setting in {"PNS_ENCRYPTION_KEYS", "SECRET_KEY", "DEBUG"}:
        _multi_fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _multi_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multi_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored access secret cannot be decrypted with the configured "
            "PNS_ENCRYPTION_KEYS (was a key removed, or SECRET_KEY changed in DEBUG mode?). "
            "Set the secret again."
        ) from None


def rotate(token: str) -> str:
    """The same secret, encrypted with the newest key."""
    try:
        return _multi_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any configured key."
        ) from None
