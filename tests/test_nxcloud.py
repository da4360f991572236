"""The NXCloud PNS client, tested over real HTTP against the simulator on loopback."""

import hashlib
import logging
import socket
import time

import pytest

from groups.nxcloud import (
    ERROR_EXPLANATIONS,
    PAGE_LIMIT,
    NumberGroup,
    OperateType,
    PnsApiError,
    PnsClient,
    PnsConsistencyError,
    PnsProtocolError,
    PnsTransportError,
    sign,
)
from tests.conftest import ACCESS_KEY, ACCESS_SECRET

VECTOR_HEADERS = {
    "accessKey": "fme2na3kdi3ki",
    "action": "send",
    "bizType": "1",
    "ts": "1655710885431",
}
VECTOR_SECRET = "abciiiko2k3"


# --- signing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
    ],
)
def test_sign_reproduces_the_documented_vectors(body, expected):
    assert sign(VECTOR_HEADERS, body, VECTOR_SECRET) == expected


def test_sign_with_sha256_hashes_the_same_text():
    body = '{"limit":10,"offset":0}'
    text = (
        "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431"
        f"&body={body}&accessSecret={VECTOR_SECRET}"
    )
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert sign(VECTOR_HEADERS, body, VECTOR_SECRET, "sha256") == expected


def test_sign_leaves_out_the_body_part_when_the_body_is_empty():
    text = "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&accessSecret=abciiiko2k3"
    expected = hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - NXCloud's documented hash
    assert sign(VECTOR_HEADERS, "", VECTOR_SECRET) == expected


def test_sign_ignores_the_sign_and_algorithm_headers():
    headers = {**VECTOR_HEADERS, "sign": "whatever", "algorithm": "md5"}
    assert sign(headers, "{}", VECTOR_SECRET) == sign(VECTOR_HEADERS, "{}", VECTOR_SECRET)


def test_sign_refuses_missing_headers_and_unknown_algorithms():
    with pytest.raises(ValueError, match="ts"):
        sign({k: v for k, v in VECTOR_HEADERS.items() if k != "ts"}, "{}", VECTOR_SECRET)
    with pytest.raises(ValueError, match="sha1"):
        sign(VECTOR_HEADERS, "{}", VECTOR_SECRET, "sha1")


# --- what goes over the wire ----------------------------------------------------------------


def test_each_call_sends_exactly_the_compact_utf8_json_it_signed(simulator, pns_client):
    pns_client.create_group(["85235753351"], name="牛小信", remark="a, b")

    call = simulator.calls[-1]
    assert call.raw_body == '{"phones":"85235753351","groupName":"牛小信","remark":"a, b"}'.encode()
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["bizType"] == "5"
    assert call.headers["action"] == "createGroup"
    assert call.headers["accessKey"] == ACCESS_KEY
    assert abs(int(call.headers["ts"]) - time.time() * 1000) < 5_000
    assert "algorithm" not in call.headers
    assert call.code == 0


def test_sha256_clients_send_the_algorithm_header_and_are_accepted(simulator, make_client, account):
    client = make_client(algorithm="sha256")
    _, total = client.list_groups_page(10, 0)
    assert total == 3
    call = simulator.calls[-1]
    assert call.headers["algorithm"] == "sha256"
    assert len(call.headers["sign"]) == 64


def test_every_attempt_is_freshly_timestamped_and_signed(simulator, pns_client):
    simulator.inject("http_status", on_call=1)
    time.sleep(0.002)
    pns_client.list_groups_page(10, 0)
    first, second = simulator.calls
    assert first.raw_body == second.raw_body
    assert int(second.headers["ts"]) > int(first.headers["ts"])
    assert second.headers["sign"] != first.headers["sign"]


def test_the_secret_is_never_sent(simulator, pns_client):
    pns_client.list_groups()
    pns_client.create_group(["85235753351"])
    for call in simulator.calls:
        assert ACCESS_SECRET.encode() not in call.raw_body
        assert all(ACCESS_SECRET not in value for value in call.headers.values())


# --- the four G-group actions ---------------------------------------------------------------


def test_list_groups_page_returns_typed_groups_and_total(pns_client):
    groups, total = pns_client.list_groups_page(2, 0)
    assert total == 3
    assert groups == [
        NumberGroup(
            group_id="b8c2aaf940d534d3c9ed8b780757f94e",
            name="groupA",
            customer_id="cus_1",
            remark="Number Group A",
            phones=("85211111114", "85235753351", "85235753311"),
        ),
        NumberGroup(
            group_id="0f3c5d1e2b4a69788796a5b4c3d2e1f0",
            name="客服热线",
            customer_id="cus_2",
            remark='Remark, with "quotes"',
            phones=("8613800138000",),
        ),
    ]


def test_phones_are_split_trimmed_and_empties_dropped_in_order(simulator, pns_client):
    raw = (
        b'{"code":0,"msg":"success","requestId":"1","data":{"total":1,"groups":[{"groupId":"g1",'
        b'"groupName":"n","customerId":"c","remark":"","phones":" 85211111114, ,85235753351,"}]}}'
    )
    simulator.inject("raw_body", body=raw)
    groups, _ = pns_client.list_groups_page(10, 0)
    assert groups[0].phones == ("85211111114", "85235753351")


def test_create_update_and_delete_round_trip(pns_client):
    group_id = pns_client.create_group(["85290000001", "85290000002"], name="New", remark="r")
    by_id = {g.group_id: g for g in pns_client.list_groups()}
    assert by_id[group_id].phones == ("85290000001", "85290000002")
    assert (by_id[group_id].name, by_id[group_id].remark) == ("New", "r")

    pns_client.update_group(group_id, OperateType.ADD, ["85290000003"])
    pns_client.update_group(group_id, OperateType.DELETE, ["85290000001"])
    by_id = {g.group_id: g for g in pns_client.list_groups()}
    assert by_id[group_id].phones == ("85290000002", "85290000003")

    pns_client.update_group(group_id, OperateType.REPLACE, ["6591234567"])
    by_id = {g.group_id: g for g in pns_client.list_groups()}
    assert by_id[group_id].phones == ("6591234567",)

    pns_client.delete_group(group_id)
    assert group_id not in {g.group_id for g in pns_client.list_groups()}


def test_a_group_created_without_a_name_is_named_after_its_id(pns_client):
    group_id = pns_client.create_group(["85290000001"])
    assert {g.group_id: g.name for g in pns_client.list_groups()}[group_id] == group_id


def test_update_group_refuses_an_unknown_operate_type_before_calling(simulator, pns_client):
    with pytest.raises(ValueError):
        pns_client.update_group("b8c2aaf940d534d3c9ed8b780757f94e", 7, ["85290000001"])
    assert simulator.call_count() == 0


def test_refusals_of_the_other_actions_arrive_as_api_errors(pns_client):
    with pytest.raises(PnsApiError) as deleted:
        pns_client.delete_group("no-such-group")
    assert deleted.value.code == 1002
    with pytest.raises(PnsApiError) as created:
        pns_client.create_group(["0035753351"])
    assert created.value.code == 10007


# --- reading every group --------------------------------------------------------------------


def test_list_groups_reads_2500_groups_in_three_pages_each_group_once(
    simulator, big_account, make_client
):
    progress = []
    groups = make_client().list_groups(progress=lambda done, total: progress.append((done, total)))

    assert [g.group_id for g in groups] == list(big_account.groups)
    bodies = [call.body for call in simulator.calls]
    assert len(bodies) == 3
    assert all(body["limit"] <= PAGE_LIMIT for body in bodies)
    assert sorted(body["offset"] for body in bodies) == [0, 1000, 2000]
    assert progress[0] == (1, 3)
    assert progress[-1] == (3, 3)
    assert [done for done, _ in progress] == [1, 2, 3]


def test_list_groups_of_an_empty_account_is_one_call(simulator, make_client):
    simulator.add_account(ACCESS_KEY, ACCESS_SECRET, [])
    assert make_client().list_groups() == []
    assert simulator.call_count() == 1


def test_remaining_pages_are_read_concurrently_up_to_max_workers(
    simulator, big_account, make_client
):
    simulator.latency_ms = 200
    make_client(max_workers=4).list_groups()
    assert simulator.max_in_flight == 2  # the first page, then both others side by side

    simulator.max_in_flight = 0
    make_client(max_workers=1).list_groups()
    assert simulator.max_in_flight == 1


def test_a_total_that_drifts_once_ends_in_a_consistent_list(simulator, big_account, make_client):
    fault = simulator.inject("drift_total", times=1)
    groups = make_client().list_groups()

    assert fault.hits == 1
    assert len(groups) == 2_501
    assert len({g.group_id for g in groups}) == 2_501
    assert [g.group_id for g in groups] == list(big_account.groups)


def test_a_total_that_keeps_drifting_ends_in_a_consistency_error(
    simulator, big_account, make_client
):
    simulator.inject("drift_total", times=None)
    with pytest.raises(PnsConsistencyError) as error:
        make_client().list_groups()
    assert error.value.attempts == 3
    assert "kept changing" in str(error.value)
    assert simulator.call_count("listGroup") == 9


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(ERROR_EXPLANATIONS))
def test_every_documented_error_code_reaches_the_caller_explained(simulator, pns_client, code):
    simulator.inject("error_code", code=code, times=None)
    with pytest.raises(PnsApiError) as raised:
        pns_client.list_groups_page(10, 0)
    error = raised.value
    assert error.code == code
    assert error.request_id == simulator.calls[-1].request_id
    assert ERROR_EXPLANATIONS[code].split(".")[0] in str(error)
    assert f"NXCloud error {code}" in str(error)
    assert error.request_id in str(error)


def test_a_wrong_secret_is_1003_with_its_likely_causes(simulator, make_client, account):
    with pytest.raises(PnsApiError) as raised:
        make_client(access_secret="not-the-secret").list_groups()
    assert raised.value.code == 1003
    assert "access secret" in str(raised.value)
    assert "Content-Type" in str(raised.value)


def test_an_unknown_access_key_is_1005(make_client, account):
    with pytest.raises(PnsApiError) as raised:
        make_client(access_key="nobody").list_groups()
    assert raised.value.code == 1005


def test_a_skewed_clock_is_1004_with_both_clocks_in_the_message(simulator, make_client, account):
    simulator.clock_skew_seconds = 120
    with pytest.raises(PnsApiError) as raised:
        make_client().list_groups()
    error = raised.value
    assert error.code == 1004
    assert "This server's clock:" in str(error)
    assert f"ts sent: {simulator.calls[-1].headers['ts']}" in str(error)


def test_malformed_json_raises_a_protocol_error_with_an_excerpt(simulator, pns_client):
    simulator.inject("malformed_json", times=None)
    with pytest.raises(PnsProtocolError) as raised:
        pns_client.list_groups()
    assert "not JSON" in str(raised.value)
    assert '{"code":0' in raised.value.excerpt
    assert simulator.call_count() == 1


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"msg":"success"}', "no numeric 'code'"),
        (b'{"code":0,"data":{"groups":"g1,g2","total":2}}', "'data.groups' is not a list"),
        (b'{"code":0,"data":{"groups":[],"total":"many"}}', "'data.total'"),
        (b'{"code":0,"data":{"groups":[{"groupName":"x"}],"total":1}}', "without a groupId"),
        (b'{"code":0}', "without a 'data' object"),
    ],
)
def test_answers_that_break_the_envelope_raise_protocol_errors(
    simulator, pns_client, raw, complaint
):
    simulator.inject("raw_body", body=raw)
    with pytest.raises(PnsProtocolError, match=complaint):
        pns_client.list_groups_page(10, 0)


# --- retries --------------------------------------------------------------------------------


def test_an_http_500_then_success_is_retried_and_succeeds(simulator, pns_client):
    simulator.inject("http_status", on_call=1, status=500)
    _, total = pns_client.list_groups_page(10, 0)
    assert total == 3
    assert [call.http_status for call in simulator.calls] == [500, 200]


def test_a_5xx_that_persists_gives_up_after_three_attempts(simulator, pns_client):
    simulator.inject("http_status", times=None, status=503)
    with pytest.raises(PnsTransportError) as raised:
        pns_client.list_groups_page(10, 0)
    assert raised.value.status == 503
    assert simulator.call_count() == 3


def test_a_4xx_answer_is_not_retried(simulator, pns_client):
    simulator.inject("http_status", times=None, status=404)
    with pytest.raises(PnsTransportError, match="HTTP 404"):
        pns_client.list_groups_page(10, 0)
    assert simulator.call_count() == 1


def test_code_10009_is_retried(simulator, pns_client):
    simulator.inject("error_code", code=10009, times=2)
    assert pns_client.list_groups_page(10, 0)[1] == 3
    assert [call.code for call in simulator.calls] == [10009, 10009, 0]


@pytest.mark.parametrize("code", [1001, 1002, 1003, 1004, 1005, 10011, 10012])
def test_errors_that_would_fail_again_are_not_retried(simulator, pns_client, code):
    simulator.inject("error_code", code=code, times=None)
    with pytest.raises(PnsApiError):
        pns_client.list_groups_page(10, 0)
    assert simulator.call_count() == 1


def test_a_create_that_may_have_happened_is_not_repeated(simulator, pns_client):
    simulator.inject("http_status", on_call=1, status=500)
    with pytest.raises(PnsTransportError):
        pns_client.create_group(["85290000001"])
    assert simulator.call_count() == 1


def test_a_timeout_raises_a_transport_error_within_the_configured_timeout(
    simulator, make_client, account
):
    simulator.inject("delay", delay_seconds=5.0, times=None)
    client = make_client(timeout=(1, 0.5), max_attempts=1)
    started = time.monotonic()
    with pytest.raises(PnsTransportError, match=r"within 0\.5 s"):
        client.list_groups_page(10, 0)
    assert time.monotonic() - started < 3.0  # well before the 5 s answer


def test_a_timeout_is_retried_with_fresh_attempts(simulator, make_client, account):
    simulator.inject("delay", delay_seconds=1.0, times=2)
    client = make_client(timeout=(1, 0.3))
    assert client.list_groups_page(10, 0)[1] == 3
    assert simulator.call_count() == 3


def test_a_refused_connection_is_a_transport_error_marked_undelivered():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = PnsClient(
        f"http://127.0.0.1:{port}/api/pns/", ACCESS_KEY, ACCESS_SECRET, backoff_seconds=0.01
    )
    with pytest.raises(PnsTransportError, match="Could not reach NXCloud") as raised:
        client.list_groups()
    assert raised.value.delivered is False
    assert raised.value.retryable is True


# --- logging and secrecy --------------------------------------------------------------------


def test_one_log_line_per_http_call_with_what_support_needs(simulator, pns_client, caplog):
    simulator.inject("http_status", on_call=1, status=500)
    with caplog.at_level(logging.INFO, logger="groups.nxcloud"):
        pns_client.list_groups_page(10, 0)
    lines = [r.getMessage() for r in caplog.records if r.name == "groups.nxcloud"]
    assert len(lines) == 2
    assert lines[0].startswith(f"nxcloud listGroup key=…{ACCESS_KEY[-4:]} status=500 code=- ")
    assert "attempt=1" in lines[0]
    assert f"status=200 code=0 requestId={simulator.calls[1].request_id} " in lines[1]
    assert "attempt=2" in lines[1]
    assert "ms=" in lines[1]


def test_the_secret_appears_in_no_log_record_error_or_repr(
    simulator, big_account, make_client, caplog
):
    client = make_client()
    failures = []
    with caplog.at_level(logging.DEBUG):
        client.list_groups()
        for kind, options in [
            ("error_code", {"code": 1003}),
            ("error_code", {"code": 1004}),
            ("http_status", {"status": 500, "times": None}),
            ("malformed_json", {}),
        ]:
            simulator.clear_faults()
            simulator.inject(kind, **options)
            try:
                client.list_groups()
            except Exception as error:
                failures.append(error)
    assert len(failures) == 4
    texts = [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    texts += [str(error) for error in failures] + [repr(error) for error in failures]
    texts.append(repr(client))
    assert caplog.records
    assert not [text for text in texts if ACCESS_SECRET in text]
