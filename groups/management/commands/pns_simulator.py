"""`python manage.py pns_simulator`: run the NXCloud PNS stand-in in the foreground."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from groups.simulator import (
    PnsSimulator,
    generated_account_specs,
    load_account_specs,
    populate,
)

# The simulator's own made-up accounts (documented in the README).
DEFAULT_SECRET = "sim-secret"  # noqa: S105  # nosec B105


class Command(BaseCommand):
    help = (
        "Serve a stand-in for NXCloud's PNS endpoint (POST /api/pns/) on loopback, with "
        "generated or file-defined accounts and optional fault injection."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (loopback).")
        parser.add_argument("--port", type=int, default=8001, help="Port (0 picks a free one).")
        parser.add_argument("--seed", type=int, default=1, help="Seed for generated data.")
        parser.add_argument(
            "--accounts", type=Path, metavar="FILE", help="JSON file of accounts (see README)."
        )
        parser.add_argument(
            "--count", type=int, default=2, help="How many accounts to generate (no FILE)."
        )
        parser.add_argument("--groups", type=int, default=200, help="Groups per generated account.")
        parser.add_argument(
            "--phones", type=int, default=5000, help="Phone numbers per generated account."
        )
        parser.add_argument(
            "--secret",
            default=DEFAULT_SECRET,
            help="Access secret of the generated accounts (sim-ak-1, sim-ak-2, …).",
        )
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="Added to every answer, in milliseconds."
        )
        faults = parser.add_argument_group("fault injection")
        faults.add_argument(
            "--fail-call",
            type=int,
            action="append",
            default=[],
            metavar="N",
            help="Answer HTTP 500 to the N-th call (repeatable).",
        )
        faults.add_argument(
            "--malformed-call",
            type=int,
            action="append",
            default=[],
            metavar="N",
            help="Answer malformed JSON to the N-th call (repeatable).",
        )
        faults.add_argument(
            "--slow-call",
            type=int,
            action="append",
            default=[],
            metavar="N",
            help="Answer the N-th call after --slow-ms (repeatable).",
        )
        faults.add_argument("--slow-ms", type=int, default=5000)
        faults.add_argument(
            "--error-code",
            action="append",
            default=[],
            metavar="CODE[@N]",
            help="Answer NXCloud error CODE to the N-th call, or to every call without @N.",
        )
        faults.add_argument(
            "--drift-total",
            action="store_true",
            help="Add a group before every listGroup page after the first (total drifts).",
        )

    def handle(self, *args, **options):
        for name in ("count", "groups", "phones", "latency_ms", "slow_ms"):
            if options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
        if options["accounts"]:
            try:
                specs = load_account_specs(options["accounts"])
            except ValueError as error:
                raise CommandError(str(error)) from None
        else:
            specs = generated_account_specs(
                count=options["count"],
                groups=options["groups"],
                phones=options["phones"],
                secret=options["secret"],
            )
        simulator = PnsSimulator(options["host"], options["port"], latency_ms=options["latency_ms"])
        self._add_faults(simulator, options)
        populate(simulator, specs, seed=options["seed"])
        try:
            simulator.start()
        except OSError as error:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {error.strerror}."
            ) from None
        self._announce(simulator)
        try:
            simulator.wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopping.")
        finally:
            simulator.stop()

    def _add_faults(self, simulator: PnsSimulator, options: dict) -> None:
        for n in options["fail_call"]:
            simulator.inject("http_status", on_call=n, status=500)
        for n in options["malformed_call"]:
            simulator.inject("malformed_json", on_call=n)
        for n in options["slow_call"]:
            simulator.inject("delay", on_call=n, delay_seconds=options["slow_ms"] / 1000)
        for spec in options["error_code"]:
            code, _, call = spec.partition("@")
            if not code.isdigit() or (call and not call.isdigit()):
                raise CommandError(f"--error-code {spec!r}: expected CODE or CODE@N.")
            simulator.inject(
                "error_code",
                code=int(code),
                on_call=int(call) if call else None,
                times=1 if call else None,
            )
        if options["drift_total"]:
            simulator.inject("drift_total", times=None)

    def _announce(self, simulator: PnsSimulator) -> None:
        self.stdout.write(f"PNS simulator listening on {simulator.url}")
        for account in simulator.accounts.values():
            self.stdout.write(
                f"  account {account.access_key}: {len(account.groups)} groups, "
                f"{account.phone_count} numbers"
            )
        self.stdout.write("Press Ctrl+C to stop.", ending="\n")
        self.stdout.flush()
