"""A stand-in for NXCloud's PNS endpoint, for the demo and the tests.

`PnsSimulator` is a threaded HTTP server on loopback that answers `POST /api/pns/` the way
`../shared/nxcloud-pns-api.md` documents NXCloud: the same headers, signature check (MD5 and
SHA-256 over the raw body bytes), timestamp window, error codes and the four G-group actions
(listGroup, createGroup, updateGroup, deleteGroup). Its accounts are made up (or loaded from a
JSON file), and faults can be injected: an HTTP error on the n-th call, malformed JSON, a slow
answer, an error code on demand, or a group list that changes between pages.

Start it with `python manage.py pns_simulator`, or in code:

    with PnsSimulator() as sim:
        sim.add_account("key", "secret", generate_groups(random.Random(1), groups=10, phones=50))
        PnsClient(sim.url, "key", "secret").list_groups()
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from groups.nxcloud import (
    ALGORITHMS,
    BIZ_TYPE_PNS,
    PAGE_LIMIT,
    SIGNED_HEADERS,
    Action,
    OperateType,
    sign,
)

logger = logging.getLogger(__name__)

API_PATH = "/api/pns/"
TS_WINDOW_MS = 60_000
MAX_GROUP_SIZE = 500

ERROR_MESSAGES = {
    1001: "missing public parameters",
    1002: "parameter error",
    1003: "invalid signature",
    1004: "timestamp expired",
    1005: "insufficient permissions",
    10001: "empty binding number",
    10002: "same binding number",
    10003: "user does not exist",
    10004: "binding numbers lack the country code of the virtual number",
    10005: "failed to get number",
    10006: "exception binding numbers",
    10007: "virtual number without prefix",
    10008: "user has no virtual number",
    10009: "failed to retrieve data",
    10010: "virtual numbers exhausted",
    10011: "incorrect list page capacity",
    10012: "incorrect list page starting point",
    10013: "user has no binding number",
}


@dataclass
class SimGroup:
    group_id: str
    name: str
    customer_id: str
    remark: str
    phones: list[str]

    def as_json(self) -> dict[str, str]:
        return {
            "customerId": self.customer_id,
            "groupName": self.name,
            "groupId": self.group_id,
            "phones": ",".join(self.phones),
            "remark": self.remark,
        }


@dataclass
class SimAccount:
    access_key: str
    access_secret: str
    groups: dict[str, SimGroup] = field(default_factory=dict)

    @property
    def phone_count(self) -> int:
        return sum(len(group.phones) for group in self.groups.values())


FAULT_KINDS = ("http_status", "malformed_json", "raw_body", "delay", "error_code", "drift_total")


@dataclass
class Fault:
    """A fault the simulator injects into matching calls.

    `on_call` is the simulator-wide, 1-based call number (every POST counts); `action` limits
    the fault to one action; `times` is how many matching calls it hits (None: every one).
    `drift_total` only hits listGroup pages after the first (offset > 0): it adds a group at
    the front of the account's list before answering, so `total` changes between pages.
    `raw_body` answers HTTP 200 with `body` as it is (for envelopes that break the contract).
    `offset` limits a fault to the listGroup page at that offset ("HTTP 500 on page 3").
    """

    kind: str
    on_call: int | None = None
    action: str | None = None
    times: int | None = 1
    status: int = 500
    code: int = 10009
    delay_seconds: float = 0.0
    body: bytes = b""
    offset: int | None = None  # only listGroup pages at this offset
    hits: int = 0

    def matches(self, call_number: int, action: str, body: Mapping[str, Any] | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.on_call is not None and self.on_call != call_number:
            return False
        if self.action is not None and self.action != action:
            return False
        if self.offset is not None and (
            not isinstance(body, Mapping) or body.get("offset") != self.offset
        ):
            return False
        if self.kind == "drift_total":
            offset = body.get("offset") if isinstance(body, Mapping) else None
            return action == Action.LIST_GROUP and isinstance(offset, int) and offset > 0
        return True


@dataclass(frozen=True)
class CallRecord:
    """One call the simulator answered, as it arrived (tests read bodies and headers)."""

    number: int
    action: str
    headers: dict[str, str]
    raw_body: bytes
    http_status: int
    code: int | None
    request_id: str | None

    @property
    def body(self) -> Any:
        return _json_object(self.raw_body)


class PnsSimulator:
    """NXCloud's PNS endpoint on loopback. Thread-safe; start() / stop() or a `with` block."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_ms: int = 0,
        clock_skew_seconds: float = 0.0,
        seed: int = 0,
    ):
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.clock_skew_seconds = clock_skew_seconds
        self.accounts: dict[str, SimAccount] = {}
        self.faults: list[Fault] = []
        self.calls: list[CallRecord] = []
        # How many requests were being answered at once, at most (tests of concurrent paging).
        self.max_in_flight = 0
        self._in_flight = 0
        self._call_numbers = itertools.count(1)
        self._request_ids = itertools.count(1_602_262_837_283_131_392)
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # nosec B311
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PATH}"

    def start(self) -> PnsSimulator:
        self._server = _SimulatorHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="pns-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server stops (the management command waits here for Ctrl+C)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PnsSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- data and faults -----------------------------------------------------------------

    def add_account(
        self, access_key: str, access_secret: str, groups: Iterable[SimGroup] = ()
    ) -> SimAccount:
        account = SimAccount(access_key, access_secret, {g.group_id: g for g in groups})
        with self._lock:
            self.accounts[access_key] = account
        return account

    def inject(self, kind: str, **options: Any) -> Fault:
        """Add a fault (see `Fault`); returns it so a test can look at its `hits`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}.")
        fault = Fault(kind, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def call_count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for call in self.calls if action is None or call.action == action)

    # --- the endpoint --------------------------------------------------------------------

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def handle(self, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, bytes, float]:
        """Answer one POST: (HTTP status, body bytes, seconds to wait before answering)."""
        call_number = next(self._call_numbers)
        action = headers.get("action", "")
        body = _json_object(raw_body)
        with self._lock:
            fault = next((f for f in self.faults if f.matches(call_number, action, body)), None)
            if fault is not None:
                fault.hits += 1
        kind = fault.kind if fault is not None else None
        delay = self.latency_ms / 1000 + (fault.delay_seconds if kind == "delay" else 0.0)
        code: int | None = None
        request_id: str | None = None
        if kind == "http_status":
            status, raw = fault.status, b"Internal Server Error"
        elif kind == "malformed_json":
            status, raw = 200, b'{"code":0,"msg":"success","data":{"groups":[{"groupId":'
        elif kind == "raw_body":
            status, raw = 200, fault.body
        else:
            if kind == "drift_total":
                self._drift(headers.get("accessKey", ""))
            if kind == "error_code":
                envelope = self._error(fault.code)
            else:
                envelope = self._dispatch(headers, raw_body, body)
            request_id = envelope["requestId"] = str(next(self._request_ids))
            status, code = 200, envelope["code"]
            raw = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        record = CallRecord(
            call_number, action, dict(headers.items()), raw_body, status, code, request_id
        )
        with self._lock:
            self.calls.append(record)
        return status, raw, delay

    def _error(self, code: int) -> dict[str, Any]:
        return {"code": code, "msg": ERROR_MESSAGES.get(code, "error")}

    def _dispatch(
        self, headers: Mapping[str, str], raw_body: bytes, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        if any(not headers.get(name) for name in (*SIGNED_HEADERS, "sign")):
            return self._error(1001)
        action = headers["action"]
        if headers["bizType"] != BIZ_TYPE_PNS or action not in self._actions:
            return self._error(1002)
        ts = headers["ts"]
        now_ms = (time.time() + self.clock_skew_seconds) * 1000
        if not ts.isdigit() or abs(int(ts) - now_ms) > TS_WINDOW_MS:
            return self._error(1004)
        with self._lock:
            account = self.accounts.get(headers["accessKey"])
        if account is None:
            return self._error(1005)
        algorithm = (headers.get("algorithm") or "md5").lower()
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            body_text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            return self._error(1003)
        if (
            content_type != "application/json"
            or algorithm not in ALGORITHMS
            or sign(headers, body_text, account.access_secret, algorithm) != headers["sign"]
        ):
            return self._error(1003)
        if body is None:
            return self._error(1002)
        with self._lock:
            return self._actions[action](self, account, body)

    # --- actions (called with the lock held) ---------------------------------------------

    def _list_group(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        limit, offset = body.get("limit", 0), body.get("offset", 0)
        if not _is_uint(limit) or limit > PAGE_LIMIT:
            return self._error(10011)
        if not _is_uint(offset):
            return self._error(10012)
        groups = list(account.groups.values())
        page = groups[offset : offset + (limit or PAGE_LIMIT)]
        return {
            "code": 0,
            "msg": "success",
            "data": {"groups": [g.as_json() for g in page], "total": len(groups)},
        }

    def _create_group(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        phones = _phone_list(body.get("phones"))
        if isinstance(phones, int):
            return self._error(phones)
        name, remark = body.get("groupName", ""), body.get("remark", "")
        if not isinstance(name, str) or not isinstance(remark, str):
            return self._error(1002)
        group_id = f"{self._rng.getrandbits(128):032x}"
        account.groups[group_id] = SimGroup(
            group_id, name or group_id, "", remark, list(dict.fromkeys(phones))
        )
        return {"code": 0, "msg": "success", "groupId": group_id}

    def _update_group(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        group = account.groups.get(body.get("groupId"))  # type: ignore[arg-type]
        operate_type = body.get("operateType")
        phones = _phone_list(body.get("phones"))
        if group is None or operate_type not in {int(o) for o in OperateType}:
            return self._error(1002)
        if isinstance(phones, int):
            return self._error(phones)
        if operate_type == OperateType.ADD:
            group.phones = list(dict.fromkeys([*group.phones, *phones]))
        elif operate_type == OperateType.DELETE:
            removing = set(phones)
            group.phones = [p for p in group.phones if p not in removing]
        else:
            group.phones = list(dict.fromkeys(phones))
        return {"code": 0, "msg": "success"}

    def _delete_group(self, account: SimAccount, body: dict[str, Any]) -> dict[str, Any]:
        if account.groups.pop(body.get("groupId"), None) is None:  # type: ignore[arg-type]
            return self._error(1002)
        return {"code": 0, "msg": "success"}

    _actions = {
        Action.LIST_GROUP: _list_group,
        Action.CREATE_GROUP: _create_group,
        Action.UPDATE_GROUP: _update_group,
        Action.DELETE_GROUP: _delete_group,
    }

    def _drift(self, access_key: str) -> None:
        with self._lock:
            account = self.accounts.get(access_key)
            if account is None:
                return
            newcomer = generate_groups(self._rng, groups=1, phones=1)[0]
            account.groups = {newcomer.group_id: newcomer, **account.groups}


class _SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, simulator: PnsSimulator):
        self.simulator = simulator
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SimulatorHTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?")[0] != API_PATH:
            self._send(HTTPStatus.NOT_FOUND, b"Not Found", "text/plain")
            return
        simulator = self.server.simulator
        with simulator.answering():
            status, payload, delay = simulator.handle(self.headers, raw_body)
            if delay:
                time.sleep(delay)
        content_type = "application/json" if status == 200 else "text/plain"
        self._send(status, payload, content_type)

    def do_GET(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"Use POST", "text/plain")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test): nothing to answer to.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("simulator %s %s", self.address_string(), format % args)


def _json_object(raw_body: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw_body.decode("utf-8"))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _phone_list(value: Any) -> list[str] | int:
    """The phones of a create/update body, or the error code to answer."""
    if not isinstance(value, str) or not value.strip():
        return 1002
    phones = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isdigit() for p in phones):
        return 1002
    # E.164 numbers start with a country code (never 0) and have at most 15 digits.
    if any(p.startswith("0") or not 8 <= len(p) <= 15 for p in phones):
        return 10007
    return phones


# --- generated, realistic data ---------------------------------------------------------------

# (country code, weight, national-number generator): mobile and fixed ranges that exist.
_US_AREA_CODES = ("212", "213", "305", "312", "415", "512", "617", "646", "702", "206", "404")
_NUMBER_PLANS = (
    ("852", 35, lambda r: r.choice("569") + f"{r.randrange(10**7):07d}"),
    ("852", 5, lambda r: r.choice("23") + f"{r.randrange(10**7):07d}"),
    ("86", 25, lambda r: "1" + r.choice("3589") + f"{r.randrange(10**9):09d}"),
    (
        "1",
        12,
        lambda r: r.choice(_US_AREA_CODES) + str(r.randint(2, 9)) + f"{r.randrange(10**6):06d}",
    ),
    ("44", 10, lambda r: "7" + r.choice("45789") + f"{r.randrange(10**8):08d}"),
    ("65", 8, lambda r: r.choice("89") + f"{r.randrange(10**7):07d}"),
    ("81", 5, lambda r: r.choice(("90", "80", "70")) + f"{r.randrange(10**8):08d}"),
)
_PLAN_WEIGHTS = [plan[1] for plan in _NUMBER_PLANS]

_NAME_TEMPLATES = (
    "客服热线 {n}",
    "香港销售部 {n}",
    "Équipe Ventes {n}",
    "Soporte técnico – {city}",
    "営業チーム {n}",
    'Delivery riders "{city}"',
    "Ops, night shift {n}",
    "Kundenservice {city} {n}",
    "Служба поддержки {n}",
    "Promo 🎉 {n}",
    "Support {city}",
    "Merchant hotline {n}",
)
_CITIES = (
    "Hong Kong",
    "Kowloon",
    "Shenzhen",
    "London",
    "Singapore",
    "New York",
    "Tokyo",
    "München",
)
_REMARKS = (
    "",
    "",
    "Number Group A",
    "VIP, priority routing, escalate after 2 rings",
    'Customer said "urgent" — keep numbers stable',
    "Line one\nLine two",
    '=HYPERLINK("http://example.invalid","click")',
    "+44 overflow pool",
    "-internal only",
    "@ops please review",
    "Réservé à l'équipe, ne pas modifier",
    "备用号码池，勿删",
)


def random_phone(rng: random.Random) -> str:
    country, _, national = rng.choices(_NUMBER_PLANS, weights=_PLAN_WEIGHTS)[0]
    return country + national(rng)


def _group_sizes(rng: random.Random, groups: int, phones: int) -> list[int]:
    """`groups` sizes that add up to `phones`: at least 1 each, at most 500 where possible,
    skewed like real accounts (many small groups, a few large ones)."""
    if groups <= 0:
        return []
    phones = max(phones, groups)
    cap = max(MAX_GROUP_SIZE, -(-phones // groups))
    sizes = [1] * groups
    spare = phones - groups
    weights = [rng.paretovariate(1.3) for _ in range(groups)]
    scale = spare / sum(weights)
    for i, weight in enumerate(weights):
        extra = min(int(weight * scale), cap - 1)
        sizes[i] += extra
        spare -= extra
    i = 0
    while spare > 0:
        room = cap - sizes[i % groups]
        if room > 0:
            extra = min(room, spare, 1 + spare // groups)
            sizes[i % groups] += extra
            spare -= extra
        i += 1
    return sizes


def generate_groups(
    rng: random.Random,
    *,
    groups: int,
    phones: int,
    shared_phones: Iterable[str] = (),
) -> list[SimGroup]:
    """Realistic groups: numbers of several countries, 1 to 500 numbers a group, unicode names,
    remarks with commas, quotes, newlines and spreadsheet-formula text. About one number in
    200 also sits in a second group, and `shared_phones` are spread over the groups (numbers
    that several accounts share)."""
    sizes = _group_sizes(rng, groups, phones)
    used: set[str] = set()
    placed: list[str] = []
    shared = list(shared_phones)
    result = []
    for n, size in enumerate(sizes, start=1):
        members: dict[str, None] = {}
        while len(members) < size:
            if placed and rng.random() < 0.005:
                members[rng.choice(placed)] = None
                continue
            if shared and rng.random() < 0.01:
                members[shared.pop()] = None
                continue
            phone = random_phone(rng)
            if phone not in used:
                used.add(phone)
                placed.append(phone)
                members[phone] = None
        template = rng.choice(_NAME_TEMPLATES)
        result.append(
            SimGroup(
                group_id=f"{rng.getrandbits(128):032x}",
                name=template.format(n=n, city=rng.choice(_CITIES)),
                customer_id=f"cus_{rng.randrange(10**6):06d}" if rng.random() < 0.8 else "",
                remark=rng.choice(_REMARKS),
                phones=list(members),
            )
        )
    return result


@dataclass(frozen=True)
class AccountSpec:
    """A simulator account to create: fixed groups, or generated ones."""

    access_key: str
    access_secret: str
    groups: int = 0
    phones: int = 0
    fixed_groups: tuple[SimGroup, ...] = ()


def generated_account_specs(
    *, count: int, groups: int, phones: int, secret: str
) -> list[AccountSpec]:
    return [
        AccountSpec(f"sim-ak-{n}", secret, groups=groups, phones=phones)
        for n in range(1, count + 1)
    ]


def load_account_specs(path: Path) -> list[AccountSpec]:
    """Accounts from a JSON file:

        {"accounts": [
          {"accessKey": "…", "accessSecret": "…",
           "groups": [{"groupId": "…", "groupName": "…", "customerId": "…", "remark": "…",
                       "phones": "852…,852…"}]},
          {"accessKey": "…", "accessSecret": "…", "generate": {"groups": 100, "phones": 2000}}
        ]}

    Raises ValueError with a message that says what is wrong.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"Cannot read {path}: {error.strerror}.") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}.") from None
    accounts = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(accounts, list) or not accounts:
        raise ValueError(f'{path} must hold {{"accounts": [...]}} with at least one account.')
    specs = []
    for n, raw in enumerate(accounts, start=1):
        where = f"{path}: account {n}"
        if not isinstance(raw, dict):
            raise ValueError(f"{where} is not an object.")
        key, secret = raw.get("accessKey"), raw.get("accessSecret")
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise ValueError(f"{where} needs a non-empty accessKey and accessSecret.")
        generate = raw.get("generate") or {}
        fixed = []
        for g, group in enumerate(raw.get("groups") or [], start=1):
            if not isinstance(group, dict) or not group.get("groupId"):
                raise ValueError(f"{where}, group {g} needs a groupId.")
            fixed.append(
                SimGroup(
                    group_id=str(group["groupId"]),
                    name=str(group.get("groupName") or group["groupId"]),
                    customer_id=str(group.get("customerId") or ""),
                    remark=str(group.get("remark") or ""),
                    phones=[p.strip() for p in str(group.get("phones") or "").split(",") if p],
                )
            )
        try:
            sizes = int(generate.get("groups", 0)), int(generate.get("phones", 0))
        except (TypeError, ValueError):
            raise ValueError(
                f"{where}: generate.groups and generate.phones must be integers."
            ) from None
        specs.append(AccountSpec(key, secret, *sizes, fixed_groups=tuple(fixed)))
    return specs


def populate(simulator: PnsSimulator, specs: Iterable[AccountSpec], *, seed: int) -> None:
    """Create the accounts; generated data depends only on `seed` and the specs."""
    rng = random.Random(seed)  # nosec B311
    shared = [random_phone(rng) for _ in range(20)]
    for spec in specs:
        groups = list(spec.fixed_groups)
        if spec.groups:
            groups += generate_groups(
                rng, groups=spec.groups, phones=spec.phones, shared_phones=shared
            )
        simulator.add_account(spec.access_key, spec.access_secret, groups)
