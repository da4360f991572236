"""The pages support staff use: overview, group list, group page, refresh history."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse

from groups.models import AuditEvent, Snapshot, SyncRun
from groups.services import sync_claim, sync_tenant
from groups.simulator import SimGroup
from tests.conftest import create_tenant, create_user


@pytest.fixture
def support(db, client, sim_tenant):
    user = create_user("helper", tenants=[sim_tenant])
    client.force_login(user)
    return user


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_first_visit_to_a_tenant_reads_it_from_nxcloud(client, support, sim_tenant):
    response = client.get(sim_tenant.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.triggered_by) == ("first visit by helper", "ok", support)
    assert [g.name for g in response.context["page"].object_list] == ["groupA", "客服热线", "Ops"]
    assert "Updated 0 minutes ago from NXCloud" in page_text(response)
    assert AuditEvent.objects.filter(action="refresh_requested", user=support).exists()


def test_a_visit_after_a_failed_first_refresh_does_not_hammer_nxcloud(
    client, support, sim_tenant, simulator
):
    simulator.inject("error_code", code=1005, times=None)
    first = client.get(sim_tenant.get_absolute_url())
    assert "The last refresh failed" in page_text(first)
    assert "There is no data yet." in page_text(first)
    client.get(sim_tenant.get_absolute_url())
    assert SyncRun.objects.count() == 1


@pytest.fixture
def refreshed(sim_tenant, account):
    account.groups["9" * 32] = SimGroup(
        "9" * 32,
        "<script>alert(1)</script>",
        "cus_9",
        "first line\nsecond <b>line</b>",
        ["85235753351", "6591234567", "14155552671"],
    )
    sync_tenant(sim_tenant)
    return sim_tenant


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("group", ["groupA"]),
        ("客服", ["客服热线"]),
        ("0f3c5d1e", ["客服热线"]),
        ("cus_2", ["客服热线"]),
        ("=SUM", ["Ops"]),
        ("3575 3351", ["groupA", "<script>alert(1)</script>"]),
        ("07911 123456", ["Ops"]),
        ("+44 7911 123456", ["Ops"]),
        ("no such thing", []),
    ],
)
def test_the_group_list_filters_on_every_field_and_on_numbers(
    client, support, refreshed, text, names
):
    response = client.get(refreshed.get_absolute_url(), {"q": text})
    assert [g.name for g in response.context["page"].object_list] == names


def test_the_group_list_sorts_and_pages(client, support, refreshed):
    url = refreshed.get_absolute_url()
    by_count = client.get(url, {"sort": "-count"}).context["page"].object_list
    assert [g.phone_count for g in by_count] == [3, 3, 1, 1]
    by_name = client.get(url, {"sort": "name"}).context["page"].object_list
    assert [g.name for g in by_name] == sorted(g.name for g in by_name)

    response = client.get(url, {"sort": "name", "per_page": 25, "page": 1})
    assert response.context["page"].paginator.per_page == 25
    assert 'aria-sort="ascending"' in response.content.decode()


def test_bad_sort_and_page_size_fall_back_to_the_defaults(client, support, refreshed):
    response = client.get(refreshed.get_absolute_url(), {"sort": "drop table", "per_page": 7})
    assert response.status_code == HTTPStatus.OK
    assert response.context["sort"] == "position"
    assert response.context["per_page"] == 50


@pytest.mark.parametrize("page", ["2", "0", "abc", "99999999999999999999"])
def test_a_page_number_that_is_not_a_page_is_a_404_in_our_layout(client, support, refreshed, page):
    response = client.get(refreshed.get_absolute_url(), {"page": page})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "404.html" in [t.name for t in response.templates]


def test_pages_of_a_big_tenant_link_to_each_other(client, support, sim_tenant, account):
    for n in range(60):
        gid = f"{n:032d}"
        account.groups[gid] = SimGroup(gid, f"extra {n:02d}", "", "", ["6591234567"])
    sync_tenant(sim_tenant)
    first = client.get(sim_tenant.get_absolute_url(), {"per_page": 25, "q": "extra"})
    assert first.context["page"].paginator.count == 60
    assert "Page 1 of 3" in page_text(first)
    assert "page=2" in first.content.decode()
    last = client.get(sim_tenant.get_absolute_url(), {"per_page": 25, "q": "extra", "page": 3})
    assert len(last.context["page"].object_list) == 10


def test_the_group_page_shows_every_field_and_numbers_for_people(client, support, refreshed):
    url = reverse("group_detail", args=[refreshed.slug, "9" * 32])
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "first line<br>second &lt;b&gt;line&lt;/b&gt;" in html
    # Numbers are masked for a user without view_full_numbers (tests/test_privacy.py).
    assert "+852 35•• ••51" in html and "+1 41•-•••-••71" in html
    assert "3575 3351" not in html and "85235753351" not in html
    assert "HK (+852): 1" in page_text(response)
    assert 'id="all-numbers"' not in html


def test_all_numbers_of_a_group_in_full_and_as_text_to_copy(client, sim_tenant, refreshed):
    user = create_user("lead", perms=["groups.view_full_numbers"], tenants=[sim_tenant])
    client.force_login(user)
    response = client.post(reverse("group_reveal", args=[refreshed.slug, "9" * 32]))
    html = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "+852 3575 3351" in html and "+1 415-555-2671" in html
    assert 'data-copy-target="all-numbers"' in html
    assert re.search(
        r'<textarea id="all-numbers"[^>]*>85235753351\n6591234567\n14155552671\n', html
    )


def test_an_unknown_group_is_a_404(client, support, refreshed):
    response = client.get(reverse("group_detail", args=[refreshed.slug, "nope"]))
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_refresh_is_a_post_that_reads_nxcloud_now(client, support, refreshed, account):
    account.groups["new"] = SimGroup("new", "Newcomer", "", "", ["6591234567"])
    url = reverse("tenant_refresh", args=[refreshed.slug])
    assert client.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    response = client.post(url, {"next": refreshed.get_absolute_url() + "?q=New"}, follow=True)
    assert response.redirect_chain[-1][0] == refreshed.get_absolute_url() + "?q=New"
    assert "Refreshed: 5 groups, 9 numbers." in [str(m) for m in response.context["messages"]]
    assert [g.name for g in response.context["page"].object_list] == ["Newcomer"]


def test_refresh_never_redirects_off_site(client, support, refreshed):
    response = client.post(
        reverse("tenant_refresh", args=[refreshed.slug]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == refreshed.get_absolute_url()


def test_a_failed_refresh_keeps_the_old_data_with_the_explained_error(
    client, support, refreshed, simulator
):
    simulator.inject("error_code", code=1004, times=None)
    response = client.post(reverse("tenant_refresh", args=[refreshed.slug]), follow=True)
    text = page_text(response)
    assert "The refresh failed: NXCloud error 1004" in text
    assert "The last refresh failed" in text
    assert "The data below is from the previous successful refresh." in text
    assert f"NXCloud requestId: {simulator.calls[-1].request_id}" in text
    assert len(response.context["page"].object_list) == 4


def test_a_refresh_under_way_shows_its_progress_and_updates_itself(client, support, refreshed):
    run, _ = sync_claim(tenant=refreshed, trigger="someone")
    SyncRun.objects.filter(pk=run.pk).update(pages_done=3, pages_total=10)
    response = client.get(refreshed.get_absolute_url())
    text = page_text(response)
    assert "Refreshing from NXCloud… page 3 of 10" in text
    assert '<meta http-equiv="refresh" content="2">' in response.content.decode()
    assert len(response.context["page"].object_list) == 4  # the old data is still shown

    second = client.post(reverse("tenant_refresh", args=[refreshed.slug]), follow=True)
    assert "A refresh of this tenant is already under way." in [
        str(m) for m in second.context["messages"]
    ]
    assert SyncRun.objects.filter(status="running").count() == 1


def test_old_data_is_flagged_as_out_of_date(client, support, refreshed, settings):
    Snapshot.objects.update(taken_at=Snapshot.objects.get().taken_at - timedelta(minutes=20))
    text = page_text(client.get(refreshed.get_absolute_url()))
    assert "This data may be out of date: it was read from NXCloud 20 minutes ago." in text


def test_the_overview_shows_counts_and_puts_problems_first(client, db, simulator, account):
    healthy = create_tenant(
        "aaa-healthy",
        secret="test-secret-Zq81vP0c",
        access_key="test-ak-7a3f",
        api_url=simulator.url,
        name="AAA Healthy",
    )
    broken = create_tenant("zzz-broken", name="ZZZ Broken")
    sync_tenant(healthy)
    sync_tenant(broken)
    client.force_login(create_user("viewer", perms=["groups.view_all_tenants"]))
    response = client.get("/")
    assert [row.tenant.slug for row in response.context["rows"]] == ["zzz-broken", "aaa-healthy"]
    text = page_text(response)
    assert "AAA Healthy" in text and " 3 5 " in text
    assert "Failed" in text and "Could not reach NXCloud" in text


def test_the_refresh_history_lists_runs_with_durations_and_errors(
    client, support, refreshed, simulator
):
    simulator.inject("error_code", code=1003, times=None)
    sync_tenant(refreshed, trigger="pns_sync (cli:ops)")
    response = client.get(reverse("sync_history", args=[refreshed.slug]))
    text = page_text(response)
    assert response.status_code == HTTPStatus.OK
    assert [run.status for run in response.context["page"].object_list] == ["failed", "ok"]
    assert "pns_sync (cli:ops)" in text
    assert "1003" in text and f"requestId {simulator.calls[-1].request_id}" in text
    assert " 4 8 1/1 " in text


# --- with JavaScript: htmx ------------------------------------------------------------------


def test_live_filtering_answers_only_the_list(client, support, refreshed):
    response = client.get(
        refreshed.get_absolute_url(),
        {"q": "Ops"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="group-results",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="group-results">')
    assert "<html" not in html
    assert [g.name for g in response.context["page"].object_list] == ["Ops"]


def test_the_progress_banner_polls_while_a_refresh_runs_and_reloads_when_it_ends(
    client, support, refreshed
):
    run, _ = sync_claim(tenant=refreshed, trigger="someone")
    SyncRun.objects.filter(pk=run.pk).update(pages_done=2, pages_total=5)
    url = reverse("tenant_freshness", args=[refreshed.slug])
    page = client.get(refreshed.get_absolute_url()).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 1s"' in page

    polled = client.get(url, HTTP_HX_REQUEST="true")
    assert "page 2 of 5" in page_text(polled)
    assert "HX-Refresh" not in polled

    SyncRun.objects.filter(pk=run.pk).update(status="ok")
    done = client.get(url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert client.get(url)["Location"] == refreshed.get_absolute_url()


def test_htmx_comes_from_our_own_static_files(client, support):
    html = client.get("/").content.decode()
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js" defer>', html)
