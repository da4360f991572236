"""Two-factor login (TOTP, with recovery codes), on django-otp.

A user with a confirmed authenticator is asked for a code after the password; with
PNS_REQUIRE_2FA, superusers and tenant admins must set one up before anything else.
"""

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from groups.audit import record_event
from groups.models import AuditEvent
from groups.roles import TENANT_ADMINS

RECOVERY_CODES = 10
APP_NAME = "PNS Admin"


def two_factor_required(user) -> bool:
    """Whether `user` must use a second factor (PNS_REQUIRE_2FA: superusers, tenant admins)."""
    if not settings.PNS_REQUIRE_2FA or not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=TENANT_ADMINS).exists()


def has_authenticator(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def setup_start(user) -> TOTPDevice:
    """A new, unconfirmed authenticator for `user` (replacing an unconfirmed one)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def setup_qr_svg(device: TOTPDevice) -> str:
    """The authenticator's otpauth:// address as an inline SVG QR code."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)


def setup_secret(device: TOTPDevice) -> str:
    """The key in base32, four characters at a time, for typing into an app by hand."""
    from base64 import b32encode

    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@transaction.atomic
def setup_confirm(request: HttpRequest, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the new authenticator with a code from it: it replaces any earlier one, this
    session counts as verified, and fresh recovery codes are returned (None: wrong code)."""
    if not device.verify_token(token.replace(" ", "")):
        return None
    user = device.user
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    record_event(AuditEvent.Action.TWO_FACTOR_ENABLED, request=request, user=user)
    return recovery_codes_new(user)


def recovery_codes_new(user) -> list[str]:
    """Replace `user`'s recovery codes; each works once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Recovery codes")
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def verify(request: HttpRequest, token: str) -> bool:
    """Check a code from the authenticator, or a recovery code (then used up)."""
    token = token.replace(" ", "").strip()
    user = request.user
    devices = [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *StaticDevice.objects.filter(user=user, confirmed=True),
    ]
    for device in devices:
        if device.verify_is_allowed()[0] and device.verify_token(token):
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                record_event(AuditEvent.Action.RECOVERY_CODE_USED, request=request)
            return True
    record_event(AuditEvent.Action.TWO_FACTOR_FAILED, request=request)
    return False


@transaction.atomic
def disable(request: HttpRequest) -> None:
    user = request.user
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    record_event(AuditEvent.Action.TWO_FACTOR_DISABLED, request=request)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user).count()


SINGLE_FACTOR_SESSION_KEY = "pns_single_factor"

# Pages a user half-way through logging in may still open.
OPEN_PATHS = (
    "/accounts/2fa/",
    "/accounts/logout/",
    "/i18n/",
    "/static/",
    "/healthz",
    "/readyz",
    "/metrics",
)


class TwoFactorMiddleware:
    """After the password: a user with an authenticator must give a code; a user who must use
    two factors and has none must set one up. Until then, every page leads there."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path.startswith(OPEN_PATHS):
            return self.get_response(request)  # before request.user: it costs two queries
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            # Checked once a session (two queries): a second factor added elsewhere, or
            # PNS_REQUIRE_2FA turned on, applies from the next login.
            and not request.session.get(SINGLE_FACTOR_SESSION_KEY)
        ):
            if user_has_device(user):
                return _redirect("two_factor_verify", request)
            if two_factor_required(user):
                return _redirect("two_factor_setup", request)
            request.session[SINGLE_FACTOR_SESSION_KEY] = True
        return self.get_response(request)


def _redirect(name: str, request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}")
