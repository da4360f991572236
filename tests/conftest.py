import random

import pytest

from groups.nxcloud import PnsClient
from groups.simulator import PnsSimulator, SimGroup, generate_groups

def pytest_report_header(config):
    from django.conf import settings

    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}"


ACCESS_KEY = "test-ak-7a3f"
ACCESS_SECRET = "test-secret-Zq81vP0c"


@pytest.fixture
def simulator():
    """The PNS simulator on a free loopback port, with no accounts yet."""
    with PnsSimulator() as sim:
        yield sim


@pytest.fixture
def account(simulator):
    """One simulator account holding three small, known groups."""
    return simulator.add_account(
        ACCESS_KEY,
        ACCESS_SECRET,
        [
            SimGroup(
                "b8c2aaf940d534d3c9ed8b780757f94e",
                "groupA",
                "cus_1",
                "Number Group A",
                ["85211111114", "85235753351", "85235753311"],
            ),
            SimGroup(
                "0f3c5d1e2b4a69788796a5b4c3d2e1f0",
                "客服热线",
                "cus_2",
                'Remark, with "quotes"',
                ["8613800138000"],
            ),
            SimGroup("11112222333344445555666677778888", "Ops", "", "=SUM(A1)", ["447911123456"]),
        ],
    )


@pytest.fixture
def big_account(simulator):
    """An account with 2,500 generated groups: three listGroup pages."""
    groups = generate_groups(random.Random(7), groups=2_500, phones=12_000)
    return simulator.add_account(ACCESS_KEY, ACCESS_SECRET, groups)


@pytest.fixture
def make_client(simulator):
    """Build a PnsClient for the simulator; backoff is shortened so retry tests stay quick."""
    clients = []

    def make(access_key=ACCESS_KEY, access_secret=ACCESS_SECRET, **options):
        options.setdefault("backoff_seconds", 0.01)
        client = PnsClient(simulator.url, access_key, access_secret, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def pns_client(make_client, account):
    return make_client()
