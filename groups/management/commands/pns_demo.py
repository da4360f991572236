"""`python manage.py pns_demo`: the embedded demo (what `make demo` runs after migrating).

Starts the PNS simulator in this process, points three demo tenants at it, gives the demo
users fresh passwords, prints how to log in, then serves the dashboard with Django's
development server while the scheduler (a thread here) keeps the tenants fresh.
"""

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from groups.demo import demo_accounts, demo_setup
from groups.simulator import PnsSimulator, populate


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
            "--setup-only",
            action="store_true",
            help="Prepare the demo data (tenants point at --simulator-url), then exit.",
        )
        parser.add_argument("--simulator-url", default="http://127.0.0.1:8001/api/pns/")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "pns_demo only runs with DEBUG=1: it creates demo users and tenants and must "
                "never touch a production database."
            )
        admin_password = options["password"] or settings.PNS_DEMO_PASSWORD
        if options["setup_only"]:
            logins = demo_setup(
                simulator_url=options["simulator_url"], admin_password=admin_password
            )
            self._print_logins(logins)
            return

        simulator = _start_simulator(options["simulator_port"])
        logins = demo_setup(simulator_url=simulator.url, admin_password=admin_password)
        host, _, port = options["addrport"].rpartition(":")
        self.stdout.write(self.style.SUCCESS("\nPNS Admin demo"))
        self.stdout.write(f"  Dashboard:  http://{host or '127.0.0.1'}:{port}/")
        self.stdout.write(f"  Simulator:  {simulator.url} ({len(simulator.accounts)} accounts)")
        self._print_logins(logins)
        self.stdout.write("Passwords are new on every start. Press Ctrl+C to stop.\n")
        # The scheduler keeps the demo tenants fresh (the first pass reads them all).
        threading.Thread(
            target=call_command, args=("pns_scheduler",), name="pns-scheduler", daemon=True
        ).start()
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            simulator.stop()

    def _print_logins(self, logins) -> None:
        for login in logins:
            self.stdout.write(
                f"  Log in as {login.username:<8} password {login.password}   ({login.description})"
            )


def _start_simulator(port: int) -> PnsSimulator:
    for candidate in (port, 0):
        simulator = PnsSimulator(port=candidate)
        populate(simulator, demo_accounts(), seed=1)
        try:
            return simulator.start()
        except OSError:
            continue
    raise CommandError("Could not start the PNS simulator on any port.")
