"""Two-factor login: set up with an authenticator app, a code after the password, recovery
codes, and PNS_REQUIRE_2FA for superusers and tenant admins."""

import re
import time
from http import HTTPStatus

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from groups.models import AuditEvent
from groups.roles import SUPPORT, TENANT_ADMINS
from tests.conftest import create_user, log_in


def code_for(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():06d}"


def set_up(client) -> tuple[TOTPDevice, list[str]]:
    """Go through the setup page as a person does; returns the device and recovery codes."""
    page = client.get(reverse("two_factor_setup"))
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(confirmed=False)
    done = client.post(reverse("two_factor_setup"), {"token": code_for(device)})
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", done.content.decode())
    device.refresh_from_db()
    return device, codes


@pytest.fixture
def helper(db):
    return create_user("helper", roles=[SUPPORT])


def test_setting_up_asks_for_a_code_and_gives_recovery_codes(client, helper):
    log_in(client, "helper")
    client.get(reverse("two_factor_setup"))
    device = TOTPDevice.objects.get(user=helper)
    wrong = client.post(reverse("two_factor_setup"), {"token": "000000"})
    assert "That code is not right" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    device, codes = set_up(client)
    assert device.confirmed and len(codes) == 10
    assert AuditEvent.objects.filter(action="2fa_enabled", username="helper").exists()
    assert client.get(reverse("home")).status_code == HTTPStatus.OK  # this session is verified


def test_after_the_password_a_code_is_needed_for_every_page(client, helper, settings):
    # Each wrong code makes the next try wait (1 s, then 2, 4 …): not what this test is about.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    log_in(client, "helper")
    device, _ = set_up(client)
    client.post(reverse("logout"))

    log_in(client, "helper")
    blocked = client.get(reverse("home"))
    assert blocked.status_code == HTTPStatus.FOUND
    assert blocked["Location"] == reverse("two_factor_verify") + "?next=%2F"
    assert client.get("/search/?q=1").status_code == HTTPStatus.FOUND
    assert client.get("/admin/").status_code == HTTPStatus.FOUND

    wrong = client.post(reverse("two_factor_verify"), {"token": "123456", "next": "/"})
    assert "That code is not right" in wrong.content.decode()
    assert AuditEvent.objects.filter(action="2fa_failed").count() == 1

    # A later code than the one used at setup (a code is accepted once).
    right = client.post(
        reverse("two_factor_verify"), {"token": code_for(device, offset_steps=1), "next": "/"}
    )
    assert right["Location"] == "/"
    assert client.get(reverse("home")).status_code == HTTPStatus.OK


def test_a_recovery_code_works_once(client, helper):
    log_in(client, "helper")
    _, codes = set_up(client)
    for attempt in range(2):
        client.post(reverse("logout"))
        log_in(client, "helper")
        response = client.post(reverse("two_factor_verify"), {"token": codes[0], "next": "/"})
        if attempt == 0:
            assert response["Location"] == "/"
        else:
            assert "That code is not right" in response.content.decode()
    assert AuditEvent.objects.filter(action="recovery_code_used").count() == 1


def test_an_unsafe_next_address_is_ignored(client, helper):
    log_in(client, "helper")
    device, _ = set_up(client)
    client.post(reverse("logout"))
    log_in(client, "helper")
    response = client.post(
        reverse("two_factor_verify"),
        {"token": code_for(device, offset_steps=1), "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home")


def test_turning_it_off_needs_a_verified_session_and_is_audited(client, helper):
    log_in(client, "helper")
    set_up(client)
    client.post(reverse("two_factor"), {"action": "disable"})
    assert not TOTPDevice.objects.filter(user=helper).exists()
    assert AuditEvent.objects.filter(action="2fa_disabled").exists()
    client.post(reverse("logout"))
    log_in(client, "helper")
    assert client.get(reverse("home")).status_code == HTTPStatus.OK  # password alone again


def test_required_two_factor_sends_admins_to_set_it_up_first(client, db, settings):
    settings.PNS_REQUIRE_2FA = True
    create_user("tadmin", roles=[TENANT_ADMINS], staff=True)
    create_user("helper", roles=[SUPPORT])
    log_in(client, "tadmin")
    response = client.get("/admin/")
    assert response["Location"].startswith(reverse("two_factor_setup"))
    device, _ = set_up(client)
    assert client.get("/admin/").status_code == HTTPStatus.OK
    page = client.get(reverse("two_factor")).content.decode()
    assert "cannot be turned off" in page
    client.post(reverse("two_factor"), {"action": "disable"})
    assert TOTPDevice.objects.filter(pk=device.pk).exists()

    support = type(client)()
    log_in(support, "helper")
    assert support.get(reverse("home")).status_code == HTTPStatus.OK  # not required for support
