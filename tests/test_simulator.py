"""The PNS simulator behaves like NXCloud's endpoint as documented: raw HTTP, no client."""

import json
import os
import random
import re
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from groups.nxcloud import serialize_body, sign
from groups.simulator import (
    MAX_GROUP_SIZE,
    PnsSimulator,
    generate_groups,
    generated_account_specs,
    load_account_specs,
    populate,
)
from tests.conftest import ACCESS_KEY, ACCESS_SECRET

PROJECT_DIR = Path(__file__).resolve().parent.parent


def post(simulator, body, *, secret=ACCESS_SECRET, headers=None):
    """A hand-made signed listGroup request; `headers` replace (or, when None, drop) headers."""
    text = body if isinstance(body, str) else serialize_body(body)
    sent = {
        "accessKey": ACCESS_KEY,
        "action": "listGroup",
        "bizType": "5",
        "ts": str(int(time.time() * 1000)),
    }
    sent["sign"] = sign(sent, text, secret)
    sent["Content-Type"] = "application/json"
    for name, value in (headers or {}).items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    return requests.post(simulator.url, data=text.encode(), headers=sent, timeout=5)


def code_of(response):
    assert response.status_code == 200
    return response.json()["code"]


@pytest.mark.parametrize("header", ["accessKey", "action", "bizType", "ts", "sign"])
def test_a_missing_header_is_1001(simulator, account, header):
    assert code_of(post(simulator, {"limit": 1, "offset": 0}, headers={header: None})) == 1001


def test_a_wrong_biz_type_or_unknown_action_is_1002(simulator, account):
    assert code_of(post(simulator, {"limit": 1, "offset": 0}, headers={"bizType": "1"})) == 1002
    assert (
        code_of(post(simulator, {"limit": 1, "offset": 0}, headers={"action": "listNumbers"}))
        == 1002
    )


@pytest.mark.parametrize("ts", ["1655710885431", "not-a-number", str(int(time.time()))])
def test_a_timestamp_outside_60_seconds_or_not_in_ms_is_1004(simulator, account, ts):
    body = {"limit": 1, "offset": 0}
    headers = {"accessKey": ACCESS_KEY, "action": "listGroup", "bizType": "5", "ts": ts}
    signature = sign(headers, serialize_body(body), ACCESS_SECRET)
    assert code_of(post(simulator, body, headers={"ts": ts, "sign": signature})) == 1004


def test_an_unknown_access_key_is_1005(simulator, account):
    body = {"limit": 1, "offset": 0}
    assert code_of(post(simulator, body, headers={"accessKey": "someone-else"})) == 1005


def test_the_signature_covers_the_exact_body_bytes(simulator, account):
    compact = '{"limit":1,"offset":0}'
    spaced = '{"limit": 1, "offset": 0}'
    assert code_of(post(simulator, compact)) == 0
    assert code_of(post(simulator, spaced)) == 0

    headers = {
        "accessKey": ACCESS_KEY,
        "action": "listGroup",
        "bizType": "5",
        "ts": str(int(time.time() * 1000)),
    }
    signed_compact = sign(headers, compact, ACCESS_SECRET)
    assert (
        code_of(post(simulator, spaced, headers={"ts": headers["ts"], "sign": signed_compact}))
        == 1003
    )


def test_a_wrong_secret_or_content_type_is_1003(simulator, account):
    body = {"limit": 1, "offset": 0}
    assert code_of(post(simulator, body, secret="wrong")) == 1003
    assert code_of(post(simulator, body, headers={"Content-Type": "text/plain"})) == 1003


def test_sha256_signatures_are_checked_when_the_algorithm_header_says_so(simulator, account):
    text = '{"limit":1,"offset":0}'
    headers = {
        "accessKey": ACCESS_KEY,
        "action": "listGroup",
        "bizType": "5",
        "ts": str(int(time.time() * 1000)),
    }
    sha = sign(headers, text, ACCESS_SECRET, "sha256")
    assert (
        code_of(
            post(simulator, text, headers={"ts": headers["ts"], "sign": sha, "algorithm": "sha256"})
        )
        == 0
    )
    assert code_of(post(simulator, text, headers={"ts": headers["ts"], "sign": sha})) == 1003


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"limit": 1001, "offset": 0}, 10011),
        ({"limit": -1, "offset": 0}, 10011),
        ({"limit": "10", "offset": 0}, 10011),
        ({"limit": 10, "offset": -1}, 10012),
        ({"limit": 10, "offset": 1.5}, 10012),
        ({"limit": 1000, "offset": 0}, 0),
    ],
)
def test_list_group_checks_its_paging_parameters(simulator, account, body, code):
    assert code_of(post(simulator, body)) == code


def test_limit_zero_returns_at_most_1000_groups(simulator):
    simulator.add_account(
        ACCESS_KEY, ACCESS_SECRET, generate_groups(random.Random(3), groups=1_200, phones=1_200)
    )
    data = post(simulator, {"limit": 0, "offset": 0}).json()["data"]
    assert data["total"] == 1_200
    assert len(data["groups"]) == 1_000


def test_list_group_answers_the_documented_envelope(simulator, account):
    answer = post(simulator, {"limit": 10, "offset": 0}).json()
    assert answer["code"] == 0
    assert answer["msg"] == "success"
    assert answer["requestId"].isdigit()
    assert answer["data"]["total"] == 3
    assert answer["data"]["groups"][0] == {
        "customerId": "cus_1",
        "groupName": "groupA",
        "groupId": "b8c2aaf940d534d3c9ed8b780757f94e",
        "phones": "85211111114,85235753351,85235753311",
        "remark": "Number Group A",
    }


def test_only_post_to_the_api_path_is_served(simulator):
    assert requests.get(simulator.url, timeout=5).status_code == 405
    other = simulator.url.replace("/api/pns/", "/api/other/")
    assert requests.post(other, data=b"{}", timeout=5).status_code == 404


# --- generated data -------------------------------------------------------------------------


def test_generated_groups_look_like_real_accounts():
    groups = generate_groups(random.Random(11), groups=400, phones=20_000)
    sizes = [len(group.phones) for group in groups]
    phones = [phone for group in groups for phone in group.phones]

    assert len(groups) == 400
    assert sum(sizes) == 20_000
    assert min(sizes) >= 1
    assert max(sizes) <= MAX_GROUP_SIZE
    assert all(phone.isdigit() and 10 <= len(phone) <= 13 for phone in phones)
    assert {"852", "86", "1", "44", "65"} <= {
        next(cc for cc in ("852", "86", "44", "65", "81", "1") if p.startswith(cc)) for p in phones
    }
    assert all(re.fullmatch(r"[0-9a-f]{32}", group.group_id) for group in groups)
    assert any(any(ord(ch) > 127 for ch in group.name) for group in groups)
    remarks = {group.remark for group in groups}
    assert any("," in r for r in remarks) and any('"' in r for r in remarks)
    assert any("\n" in r for r in remarks)
    assert {"=", "+", "-", "@"} <= {r[0] for r in remarks if r}
    # A few numbers sit in two groups, as they do in real accounts.
    assert len(set(phones)) < len(phones)


def test_generated_data_depends_only_on_the_seed():
    first = generate_groups(random.Random(5), groups=50, phones=500)
    again = generate_groups(random.Random(5), groups=50, phones=500)
    other = generate_groups(random.Random(6), groups=50, phones=500)
    assert first == again
    assert first != other


def test_populate_shares_some_numbers_between_accounts():
    simulator = PnsSimulator()
    specs = generated_account_specs(count=2, groups=300, phones=3000, secret="s")
    populate(simulator, specs, seed=1)
    first, second = (
        {p for g in account.groups.values() for p in g.phones}
        for account in simulator.accounts.values()
    )
    assert first & second


def test_an_accounts_file_defines_fixed_and_generated_groups(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "accessKey": "hk-main",
                        "accessSecret": "s3",
                        "groups": [
                            {"groupId": "g1", "groupName": "Front desk", "phones": "85235753351"}
                        ],
                        "generate": {"groups": 5, "phones": 20},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    simulator = PnsSimulator()
    populate(simulator, load_account_specs(path), seed=1)
    account = simulator.accounts["hk-main"]
    assert account.access_secret == "s3"
    assert account.groups["g1"].phones == ["85235753351"]
    assert len(account.groups) == 6


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "not valid JSON"),
        ('{"accounts": []}', "at least one account"),
        ('{"accounts": [{"accessKey": "a"}]}', "accessKey and accessSecret"),
        ('{"accounts": [{"accessKey": "a", "accessSecret": "s", "groups": [{}]}]}', "groupId"),
        (
            '{"accounts": [{"accessKey": "a", "accessSecret": "s", "generate": {"groups": "x"}}]}',
            "must be integers",
        ),
    ],
)
def test_a_bad_accounts_file_is_a_clear_command_error(tmp_path, content, complaint):
    path = tmp_path / "accounts.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match=complaint):
        call_command("pns_simulator", "--accounts", str(path))


def test_a_missing_accounts_file_is_a_clear_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("pns_simulator", "--accounts", str(tmp_path / "nope.json"))


def test_a_bad_error_code_flag_is_a_clear_command_error():
    with pytest.raises(CommandError, match="CODE or CODE@N"):
        call_command("pns_simulator", "--error-code", "oops", "--count", "1", "--groups", "1")


# --- the management command -----------------------------------------------------------------


@pytest.fixture
def simulator_process():
    """`manage.py pns_simulator` in a subprocess; yields (process, url)."""
    processes = []

    def start(*arguments):
        env = {**os.environ, "DEBUG": "1"}
        process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "pns_simulator", "--port", "0", *arguments],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        first_line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/api/pns/", first_line)
        assert match, first_line
        return process, match.group(0)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_serves_generated_accounts_with_injected_faults(simulator_process):
    _, url = simulator_process(
        "--count", "2", "--groups", "30", "--phones", "300", "--secret", "s", "--fail-call", "1"
    )
    body = '{"limit":1000,"offset":0}'

    def call():
        headers = {
            "accessKey": "sim-ak-2",
            "action": "listGroup",
            "bizType": "5",
            "ts": str(int(time.time() * 1000)),
        }
        headers["sign"] = sign(headers, body, "s")
        headers["Content-Type"] = "application/json"
        return requests.post(url, data=body.encode(), headers=headers, timeout=5)

    assert call().status_code == 500
    answer = call().json()
    assert answer["code"] == 0
    assert answer["data"]["total"] == 30
    assert sum(len(g["phones"].split(",")) for g in answer["data"]["groups"]) == 300


def test_the_command_refuses_a_port_in_use(simulator):
    port = str(simulator.port)
    with pytest.raises(CommandError, match=f"Cannot listen on 127.0.0.1:{port}"):
        call_command("pns_simulator", "--port", port, "--count", "1", "--groups", "1")


def test_generated_names_are_printable_text():
    groups = generate_groups(random.Random(2), groups=100, phones=100)
    assert all(group.name.strip() and group.name.isprintable() for group in groups)
    assert not any(
        set(group.customer_id) - set(string.ascii_letters + string.digits + "_") for group in groups
    )
