"""`python manage.py pns_demo`: the embedded demo (what `make demo` runs after migrating).

Starts the PNS simulator in this process, makes sure a demo administrator exists, prints how
to log in, then serves the dashboard with Django's development server.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from groups.simulator import PnsSimulator, generated_account_specs, populate

DEMO_USERNAME = "admin"
DEMO_SIMULATOR_SECRET = "sim-secret"  # noqa: S105 - made-up simulator accounts


class Command(BaseCommand):
    help = "Run the demo: PNS simulator + dashboard on the embedded defaults (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--simulator-port", type=int, default=8001)
        parser.add_argument(
            "--password",
            help="Demo admin password (default: $PNS_DEMO_PASSWORD, else a fresh random one).",
        )
        parser.add_argument(
            "--setup-only", action="store_true", help="Prepare the demo data, then exit."
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "pns_demo only runs with DEBUG=1: it creates a demo administrator and must "
                "never touch a production database."
            )
        password = options["password"] or settings.PNS_DEMO_PASSWORD or _fresh_password()
        _ensure_demo_admin(password)
        if options["setup_only"]:
            self.stdout.write(f"Demo ready: log in as {DEMO_USERNAME}.")
            return

        simulator = _start_simulator(options["simulator_port"])
        host, _, port = options["addrport"].rpartition(":")
        self.stdout.write(
            self.style.SUCCESS("\nPNS Admin demo\n")
            + f"  Dashboard:  http://{host or '127.0.0.1'}:{port}/\n"
            + f"  Log in as:  {DEMO_USERNAME}\n"
            + f"  Password:   {password}\n"
            + f"  Simulator:  {simulator.url} ({len(simulator.accounts)} accounts)\n"
            + "Press Ctrl+C to stop.\n"
        )
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            simulator.stop()


def _fresh_password() -> str:
    return secrets.token_urlsafe(9)


def _ensure_demo_admin(password: str) -> None:
    user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()


def _start_simulator(port: int) -> PnsSimulator:
    specs = generated_account_specs(count=2, groups=300, phones=6000, secret=DEMO_SIMULATOR_SECRET)
    for candidate in (port, 0):
        simulator = PnsSimulator(port=candidate)
        populate(simulator, specs, seed=1)
        try:
            return simulator.start()
        except OSError:
            continue
    raise CommandError("Could not start the PNS simulator on any port.")
