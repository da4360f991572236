"""Phone number search across the tenants a user may see, however the number is typed."""

import re
from http import HTTPStatus

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groups.models import AuditEvent, PhoneNumber
from groups.selectors import MATCHES_SHOWN, search_numbers
from groups.services import sync_tenant
from groups.simulator import SimGroup
from tests.conftest import KNOWN_SECRETS, create_tenant, create_user

SECRET_A = "secret-of-tenant-a-search"
SECRET_B = "secret-of-tenant-b-search"
KNOWN_SECRETS.update({SECRET_A, SECRET_B})


@pytest.fixture
def tenants(db, simulator):
    """Tenant A (Hong Kong, default region HK) and tenant B, both refreshed; 85235753351 is
    in both, 447911123456 only in B."""
    simulator.add_account(
        "ak-a",
        SECRET_A,
        [
            SimGroup("a1", "Front desk", "cus_1", "", ["85235753351", "85211111114"]),
            SimGroup("a2", "Night shift", "", "", ["85235753311", "6591234567"]),
        ],
    )
    simulator.add_account(
        "ak-b",
        SECRET_B,
        [
            SimGroup("b1", "Sales", "", "", ["85235753351", "447911123456"]),
            SimGroup("b2", "Sales too", "", "", ["447911123456"]),
        ],
    )
    a = create_tenant(
        "tenant-a",
        secret=SECRET_A,
        access_key="ak-a",
        api_url=simulator.url,
        name="Tenant A",
        default_region="HK",
    )
    b = create_tenant(
        "tenant-b", secret=SECRET_B, access_key="ak-b", api_url=simulator.url, name="Tenant B"
    )
    assert sync_tenant(a).status == "ok"
    assert sync_tenant(b).status == "ok"
    return a, b


@pytest.fixture
def both(tenants):
    return create_user("both", perms=["groups.view_all_tenants"])


@pytest.fixture
def only_b(tenants):
    return create_user("only_b", tenants=[tenants[1]])


def found(results):
    return [
        [(m.tenant.slug, m.group.group_id, m.digits, m.kind) for m in entry.matches]
        for entry in results.entries
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "+852 3575 3351",
        "+852-3575-3351",
        "00852 35753351",
        "(852) 3575 3351",
        "85235753351",
        "+852\u00a03575\u00a03351",
    ],
)
def test_every_full_form_finds_the_number_exactly_in_every_tenant(both, typed):
    results = search_numbers(user=both, text=typed)
    assert found(results) == [
        [
            ("tenant-a", "a1", "85235753351", "exact"),
            ("tenant-b", "b1", "85235753351", "exact"),
        ]
    ]


def test_a_national_number_is_exact_where_it_is_the_default_region_and_an_ending_elsewhere(
    both, only_b
):
    # Tenant A reads 3575 3351 as a Hong Kong number; nothing else of either tenant ends so.
    assert found(search_numbers(user=both, text="3575 3351")) == [
        [("tenant-a", "a1", "85235753351", "exact")]
    ]
    assert found(search_numbers(user=only_b, text="3575 3351")) == [
        [("tenant-b", "b1", "85235753351", "ends_with")]
    ]


def test_last_digits_find_every_number_ending_with_them(both):
    results = search_numbers(user=both, text="3351")
    assert found(results) == [
        [
            ("tenant-a", "a1", "85235753351", "ends_with"),
            ("tenant-b", "b1", "85235753351", "ends_with"),
        ]
    ]
    assert found(search_numbers(user=both, text="753")) == [[]]  # 3 digits need "anywhere"


def test_a_national_number_with_a_trunk_zero_ends_the_international_one(both):
    assert found(search_numbers(user=both, text="07911 123456")) == [
        [
            ("tenant-b", "b1", "447911123456", "ends_with"),
            ("tenant-b", "b2", "447911123456", "ends_with"),
        ]
    ]


def test_match_anywhere_finds_digits_in_the_middle_only_when_asked(both):
    assert found(search_numbers(user=both, text="5753")) == [[]]
    results = search_numbers(user=both, text="5753", anywhere=True)
    assert sorted(m.digits for m in results.entries[0].matches) == [
        "85235753311",
        "85235753351",
        "85235753351",
    ]
    assert {m.kind for m in results.entries[0].matches} == {"contains"}
    assert found(search_numbers(user=both, text="911", anywhere=True))[0][0][2] == "447911123456"


def test_a_user_granted_b_never_sees_a_match_of_a(only_b):
    results = search_numbers(user=only_b, text="+852 3575 3351\n85211111114")
    assert found(results) == [[("tenant-b", "b1", "85235753351", "exact")], []]
    assert results.tenants_searched == 1


def test_a_number_in_two_groups_or_tenants_is_flagged(both, only_b):
    [entry] = search_numbers(user=both, text="85235753351").entries
    assert all(match.elsewhere for match in entry.matches)
    [entry] = search_numbers(user=both, text="85211111114").entries
    assert not entry.matches[0].elsewhere
    # B's number 85235753351 is also in A, which only_b cannot see: not flagged for them.
    [entry] = search_numbers(user=only_b, text="85235753351").entries
    assert not entry.matches[0].elsewhere
    [entry] = search_numbers(user=only_b, text="447911123456").entries
    assert [m.elsewhere for m in entry.matches] == [True, True]


def test_junk_entries_are_reported_and_the_rest_is_still_searched(both):
    results = search_numbers(
        user=both, text="call me maybe; +852 3575 3351\n12\n+44 79+11\n0000000000000000000000"
    )
    assert [e.query.text for e in results.found] == ["+852 3575 3351"]
    problems = {e.query.text: e.query.problem for e in results.not_understood}
    assert problems == {
        "call me maybe": "has letters or other characters a number does not",
        "12": "has fewer than 4 digits (3 with “match anywhere”)",
        "+44 79+11": "has a + that is not at the start",
        "0000000000000000000000": "has more digits than any phone number",
    }


def test_a_very_broad_entry_shows_the_first_matches_and_counts_them_all(db, simulator):
    phones = [f"8529{n:07d}" for n in range(MATCHES_SHOWN + 50)]
    simulator.add_account("ak-big", "secret-of-the-big-one", [SimGroup("g", "Big", "", "", phones)])
    tenant = create_tenant(
        "big", secret="secret-of-the-big-one", access_key="ak-big", api_url=simulator.url
    )
    sync_tenant(tenant)
    user = create_user("viewer", tenants=[tenant])
    [entry] = search_numbers(user=user, text="852", anywhere=True).entries
    assert len(entry.matches) == MATCHES_SHOWN
    assert entry.total == MATCHES_SHOWN + 50
    assert entry.more == 50


def test_a_tenant_never_refreshed_is_simply_not_searched(both):
    create_tenant("empty")
    assert search_numbers(user=both, text="85235753351").tenants_searched == 2


# --- the page -------------------------------------------------------------------------------


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_page_shows_matches_misses_and_counts_and_keeps_the_query(client, both):
    client.force_login(both)
    query = "00852 35753351\n99998888\nabc"
    response = client.get(reverse("search"), {"q": query})
    text = page_text(response)
    assert response.status_code == HTTPStatus.OK
    assert "3 entries: 1 found, 1 not found, 1 not understood" in text
    assert "read as +852 3575 3351" in text
    assert "Tenant A" in text and "Front desk" in text and "Sales" in text
    assert "3575 3351" in text  # national format where the number is the tenant's own
    assert "+852 3575 3351" in text
    assert "also elsewhere" in text
    assert 'href="/t/tenant-a/groups/a1/"' in response.content.decode()
    assert re.search(
        r'<textarea id="not-found-list"[^>]*>99998888\n</textarea>', response.content.decode()
    )
    assert "“abc” has letters" in text
    assert f">\n{query}</textarea>" in response.content.decode()


def test_more_than_1000_entries_are_refused_and_nothing_is_searched(client, both):
    client.force_login(both)
    response = client.get(reverse("search"), {"q": "\n".join(["3351"] * 1001)})
    assert "At most 1,000 numbers at a time — this list has 1,001." in page_text(response)
    assert response.context["results"] is None
    assert not AuditEvent.objects.filter(action="search").exists()


def test_1000_entries_are_searched(client, both):
    client.force_login(both)
    response = client.get(reverse("search"), {"q": ",".join(["85235753351"] * 1000)})
    assert len(response.context["results"].found) == 1000


def test_each_search_is_audited_with_its_text_and_counts(client, both):
    client.force_login(both)
    client.get(reverse("search"), {"q": "3351; 7654321; x", "anywhere": "on"})
    event = AuditEvent.objects.get(action="search")
    assert event.user == both
    assert event.details == {
        "query": "3351; 7654321; x",
        "anywhere": True,
        "entries": 3,
        "found": 1,
        "not_found": 1,
        "not_understood": 1,
    }


def test_a_long_list_can_be_posted(both):
    client = Client(enforce_csrf_checks=True)
    client.force_login(both)
    page = client.get(reverse("search"))
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.content.decode()).group(1)
    response = client.post(reverse("search"), {"q": "85235753351", "csrfmiddlewaretoken": token})
    assert len(response.context["results"].found) == 1
    refused = client.post(reverse("search"), {"q": "85235753351"})
    assert refused.status_code == HTTPStatus.FORBIDDEN


def test_every_page_has_the_search_box(client, both):
    client.force_login(both)
    html = client.get("/").content.decode()
    assert 'id="site-search" name="q"' in html
    assert 'action="/search/"' in html


# --- index use ------------------------------------------------------------------------------


def plans_of_number_lookups(user, text, anywhere=False):
    with CaptureQueriesContext(connection) as queries:
        search_numbers(user=user, text=text, anywhere=anywhere)
    lookups = [q["sql"] for q in queries if 'FROM "groups_phonenumber"' in q["sql"]]
    assert lookups
    plans = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # tiny test tables
        for sql in lookups:
            prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + sql)
            plans.append(" ".join(str(cell) for row in cursor.fetchall() for cell in row))
    return plans


def test_a_pasted_list_of_partial_numbers_takes_a_few_queries_and_finds_what_each_does(both):
    partial = ["753351", "235753351", "753311", "1123456", "911123456", "000000", "53351"]
    entries = [*partial, *(f"{n:06d}" for n in range(300))]
    one_at_a_time = [found(search_numbers(user=both, text=entry))[0] for entry in entries]
    with CaptureQueriesContext(connection) as queries:
        results = search_numbers(user=both, text="\n".join(entries))
    assert found(results) == one_at_a_time
    in_both = [
        ("tenant-a", "a1", "85235753351", "ends_with"),
        ("tenant-b", "b1", "85235753351", "ends_with"),
    ]
    in_b = [
        ("tenant-b", "b1", "447911123456", "ends_with"),
        ("tenant-b", "b2", "447911123456", "ends_with"),
    ]
    night_shift = [("tenant-a", "a2", "85235753311", "ends_with")]
    assert found(results)[:7] == [in_both, in_both, night_shift, in_b, in_b, [], in_both]
    lookups = [q for q in queries if 'FROM "groups_phonenumber"' in q["sql"]]
    # Exact reads, then 306 suffixes of 6+ digits in 4 queries, and 1 for the 5-digit one.
    assert len(lookups) <= 10, len(lookups)


STORED = ["85235753351", "85211111114", "85235753311", "6591234567", "447911123456"]
endings = st.tuples(st.sampled_from(STORED), st.integers(4, 12)).map(lambda t: t[0][-t[1] :])
digit_runs = st.text(alphabet="0123456789", min_size=4, max_size=10)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=st.lists(endings | digit_runs, min_size=1, max_size=25))
def test_a_list_finds_for_each_entry_what_that_entry_finds_alone(both, entries):
    one_at_a_time = [found(search_numbers(user=both, text=entry))[0] for entry in entries]
    results = search_numbers(user=both, text="\n".join(entries))
    assert found(results) == one_at_a_time
    stored = list(
        PhoneNumber.objects.filter(snapshot__tenant__current_snapshot=F("snapshot")).values_list(
            "snapshot__tenant__slug", "group__group_id", "digits"
        )
    )
    for entry, matches in zip(results.entries, found(results), strict=True):
        if matches and matches[0][3] != "ends_with":
            continue  # exact: tested above
        suffix = entry.query.suffix
        ending = sorted(n for n in stored if len(suffix) >= 4 and n[2].endswith(suffix))
        assert sorted(m[:3] for m in matches) == ending, entry.query.text


@pytest.mark.parametrize(
    "typed", ["+852 3575 3351", "3575 3351", "3351", "85211111114", "753351\n911123456"]
)
def test_exact_and_ends_with_lookups_use_the_index(both, typed):
    index = PhoneNumber._meta.indexes[0].name
    for plan in plans_of_number_lookups(both, typed):
        assert index in plan, plan
        assert "SCAN groups_phonenumber" not in plan
        assert "Seq Scan on groups_phonenumber" not in plan
