"""Pages, searches and downloads read one snapshot, even while refreshes replace it."""

import csv
import io
import random
import threading

import pytest
from django.db import connection

from groups.roles import SUPPORT
from groups.services import sync_tenant
from groups.simulator import SimGroup, generate_groups
from tests.conftest import ACCESS_KEY, ACCESS_SECRET, create_tenant, create_user, ensure_roles

REFRESHES = 20
ANCHOR = "85235753351"


@pytest.mark.django_db(transaction=True)
def test_reads_during_20_refreshes_never_see_two_snapshots_mixed(client, simulator):
    ensure_roles()
    groups = generate_groups(random.Random(9), groups=1_500, phones=6_000)
    groups.insert(0, SimGroup("anchor", "Anchor", "", "", [ANCHOR]))
    account = simulator.add_account(ACCESS_KEY, ACCESS_SECRET, groups)
    tenant = create_tenant(
        "busy", secret=ACCESS_SECRET, access_key=ACCESS_KEY, api_url=simulator.url
    )
    assert sync_tenant(tenant).status == "ok"
    client.force_login(create_user("reader", roles=[SUPPORT], tenants=[tenant]))
    errors = []

    def refresh_twenty_times():
        try:
            for n in range(REFRESHES):
                # Every snapshot differs: one more group, with one more number, each time.
                gid = f"extra-{n}"
                account.groups[gid] = SimGroup(gid, f"Extra {n}", "", "", [f"6590000{n:03d}"])
                run = sync_tenant(tenant, trigger="refresher")
                if run.status != "ok":
                    errors.append(run.error_message)
        except Exception as error:  # reported by the main thread
            errors.append(repr(error))
        finally:
            connection.close()

    refresher = threading.Thread(target=refresh_twenty_times)
    refresher.start()
    reads = 0
    while refresher.is_alive() or reads < 5:
        reads += 1
        _, groups_rows = read_csv(client, "/t/busy/groups.csv")
        synced = {row[7] for row in groups_rows}
        assert len(synced) == 1, "groups.csv mixed two snapshots"
        extras = sum(1 for row in groups_rows if row[1].startswith("extra-"))
        assert len(groups_rows) == 1_501 + extras

        _, number_rows = read_csv(client, "/t/busy/numbers.csv")
        assert len(number_rows) == 6_001 + extras_in(number_rows)

        search = client.get("/search/", {"q": "+" + ANCHOR})
        assert len(search.context["results"].entries[0].matches) == 1
    refresher.join(timeout=120)
    assert not errors
    assert reads >= 5  # some of them while refreshes were writing


def read_csv(client, url):
    response = client.get(url)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return rows[0], rows[1:]


def extras_in(number_rows) -> int:
    return sum(1 for row in number_rows if row[1].startswith("extra-"))
