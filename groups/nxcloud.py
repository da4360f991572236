"""The NXCloud PNS client: the only module that talks to NXCloud.

Everything we exchange with NXCloud's PNS endpoint passes through here: signing, the HTTP call,
parsing the response envelope and explaining its errors. Nothing outside this module knows the
JSON field names; callers get `NumberGroup` dataclasses and `PnsError` subclasses.

Error hierarchy and what is worth retrying:

- `PnsTransportError`: no usable HTTP answer (connection refused, timeout, non-2xx status).
  Retried when `retryable` (connection failures, timeouts, HTTP 429 and 5xx).
- `PnsApiError`: NXCloud answered with `code != 0`. Retried only for 10009 ("failed to retrieve
  data", an upstream fault); never for 1001-1005 or 10011/10012, which will fail the same way.
- `PnsProtocolError`: the answer is not the documented envelope. Not retried.
- `PnsConsistencyError`: a full `listGroup` read kept disagreeing with its own `total`.

The access secret is used for signing only: it is never sent, logged, or put in an exception.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import requests
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from groups import metrics

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://number.nxcloud.com/api/pns/"
BIZ_TYPE_PNS = "5"
PAGE_LIMIT = 1000
SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")
ALGORITHMS = ("md5", "sha256")

ProgressCallback = Callable[[int, int], None]


class Action:
    LIST_GROUP = "listGroup"
    CREATE_GROUP = "createGroup"
    UPDATE_GROUP = "updateGroup"
    DELETE_GROUP = "deleteGroup"


class OperateType(IntEnum):
    """`updateGroup`'s operateType."""

    ADD = 0
    DELETE = 1
    REPLACE = 2


# What each documented code means, in words a person can act on.
ERROR_EXPLANATIONS: dict[int, Any] = {  # lazily translated
    1001: gettext_lazy(
        "A required request header is missing (accessKey, action, bizType, ts or sign)."
    ),
    1002: gettext_lazy(
        "Parameter error: bizType or action is wrong, or a body field is missing or invalid."
    ),
    1003: gettext_lazy(
        "Invalid signature. Likely causes: the access secret is wrong for this access key; "
        "the request's Content-Type is not application/json; or the signed text differs "
        "from the body that was sent."
    ),
    1004: gettext_lazy(
        "Timestamp expired: NXCloud rejects a request whose ts (milliseconds) is more than "
        "60 seconds away from its clock. Check this server's clock."
    ),
    1005: gettext_lazy(
        "Insufficient permissions: the access key is wrong, or this NXCloud account does not "
        "have the PNS (virtual number) business enabled."
    ),
    10001: gettext_lazy("Empty binding number."),
    10002: gettext_lazy("Same binding number."),
    10003: gettext_lazy("User does not exist: NXCloud does not know this account."),
    10004: gettext_lazy("The binding numbers lack the virtual number's country code."),
    10005: gettext_lazy("Failed to get number (an NXCloud-side fault)."),
    10006: gettext_lazy("Exception while binding numbers (an NXCloud-side fault)."),
    10007: gettext_lazy("A number lacks its country code (virtual number without prefix)."),
    10008: gettext_lazy("This account has no virtual numbers."),
    10009: gettext_lazy("Failed to retrieve data (an NXCloud-side fault; worth retrying later)."),
    10010: gettext_lazy("This account's virtual numbers are exhausted."),
    10011: gettext_lazy("Incorrect list page capacity: limit must be between 0 and 1000."),
    10012: gettext_lazy("Incorrect list page starting point: offset is out of range."),
    10013: gettext_lazy("This user has no binding number."),
}
RETRYABLE_API_CODES = frozenset({10009})


def explain_api_error(code: int) -> str:
    """What NXCloud's error `code` means, in the active language."""
    return str(
        ERROR_EXPLANATIONS.get(code, gettext_lazy("An error code this client does not know."))
    )


class PnsError(Exception):
    """Base class of every error this client raises."""

    retryable = False
    request_id: str | None = None


class PnsApiError(PnsError):
    """NXCloud answered with `code != 0`."""

    def __init__(
        self,
        code: int,
        msg: str,
        request_id: str | None,
        *,
        action: str = "",
        sent_ts: str | None = None,
    ):
        self.code = code
        self.msg = msg
        self.request_id = request_id
        self.action = action
        self.sent_ts = sent_ts
        self.retryable = code in RETRYABLE_API_CODES
        super().__init__(self._describe())

    @property
    def explanation(self) -> str:
        text = explain_api_error(self.code)
        if self.code == 1004 and self.sent_ts:
            text += " " + gettext("This server's clock: %(now)s; ts sent: %(ts)s (%(iso)s).") % {
                "now": _utc_now_iso(),
                "ts": self.sent_ts,
                "iso": _ms_to_iso(self.sent_ts),
            }
        return text

    def _describe(self) -> str:
        # In the active language: a person reads it (logs and stored runs get English, as
        # threads without a request use LANGUAGE_CODE).
        nxcloud_said = gettext(" (NXCloud said: %(msg)s)") % {"msg": self.msg} if self.msg else ""
        return (
            gettext("NXCloud error %(code)s%(said)s: %(explanation)s")
            % {
                "code": self.code,
                "said": nxcloud_said,
                "explanation": self.explanation,
            }
            + f" [requestId: {self.request_id or 'none'}]"
        )


class PnsTransportError(PnsError):
    """No usable HTTP answer: connection error, timeout, or a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool,
        excerpt: str = "",
        delivered: bool = True,
    ):
        self.status = status
        self.retryable = retryable
        self.excerpt = excerpt
        # False only when the request certainly never reached NXCloud (no connection made).
        self.delivered = delivered
        super().__init__(message)


class PnsProtocolError(PnsError):
    """An HTTP 2xx answer that is not the documented envelope; carries a short excerpt."""

    def __init__(self, message: str, *, excerpt: str = "", request_id: str | None = None):
        self.excerpt = excerpt
        self.request_id = request_id
        super().__init__(f"{message}. Response began: {excerpt!r}" if excerpt else message)


class PnsConsistencyError(PnsError):
    """A full read never matched the `total` NXCloud reported (the data kept changing)."""

    def __init__(self, message: str, *, attempts: int):
        self.attempts = attempts
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class NumberGroup:
    """One G number group as NXCloud describes it."""

    group_id: str
    name: str
    customer_id: str
    remark: str
    phones: tuple[str, ...]


def split_phones(phones: str) -> tuple[str, ...]:
    """NXCloud's comma-separated phone list as a tuple: trimmed, empties dropped, order kept."""
    return tuple(p for p in (part.strip() for part in phones.split(",")) if p)


def join_phones(phones: Iterable[str]) -> str:
    return ",".join(phones)


def serialize_body(payload: dict[str, Any]) -> str:
    """The one JSON text we sign and send: compact, non-ASCII kept as is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@sensitive_variables("secret", "text")
def sign(headers: dict[str, str], body: str, secret: str, algorithm: str = "md5") -> str:
    """NXCloud's request signature.

    `lowercase_hex(HASH("accessKey=…&action=…&bizType=…&ts=…" + "&body=" + body
    + "&accessSecret=" + secret))`, the headers sorted by name in ASCII order, `&body=…`
    skipped for an empty body, HASH = MD5 or SHA-256, over the UTF-8 bytes.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"Unknown signing algorithm {algorithm!r}; expected md5 or sha256.")
    missing = [name for name in SIGNED_HEADERS if not headers.get(name)]
    if missing:
        raise ValueError(f"Cannot sign without the header(s): {', '.join(missing)}.")
    text = "&".join(f"{name}={headers[name]}" for name in sorted(SIGNED_HEADERS))
    if body:
        text += f"&body={body}"
    text += f"&accessSecret={secret}"
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


class PnsClient:
    """A client for one NXCloud account's PNS G-group API.

    One pooled `requests.Session` per client. Every call serializes its body once, signs those
    exact characters with a fresh millisecond `ts`, and sends their UTF-8 bytes.
    `access_secret` is the secret itself or a callable that returns it.
    """

    def __init__(
        self,
        api_url: str,
        access_key: str,
        access_secret: str | Callable[[], str],
        algorithm: str = "md5",
        timeout: tuple[float, float] = (5, 30),
        max_workers: int = 4,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        consistency_retries: int = 2,
    ):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"Unknown signing algorithm {algorithm!r}; expected md5 or sha256.")
        if not access_key:
            raise ValueError("An access key is required.")
        if not access_secret:
            raise ValueError("An access secret is required.")
        self.api_url = api_url
        self.access_key = access_key
        # NXCloud's requestId of the last call that succeeded (for audit records of changes).
        self.last_request_id: str | None = None
        # A callable is asked for the secret at each signing, so that a caller can keep it
        # encrypted everywhere else.
        self._access_secret = access_secret
        self.algorithm = algorithm
        self.timeout = timeout
        self.max_workers = max(1, max_workers)
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.consistency_retries = consistency_retries
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.max_workers + 1)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"<PnsClient {self.api_url} key …{self.access_key[-4:]} {self.algorithm}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PnsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- G-group actions -----------------------------------------------------------------

    def list_groups_page(self, limit: int, offset: int) -> tuple[list[NumberGroup], int]:
        """One page of `listGroup`: the groups and the `total` NXCloud reports."""
        data = self._call(Action.LIST_GROUP, {"limit": limit, "offset": offset})
        return _parse_group_page(data)

    def list_groups(self, progress: ProgressCallback | None = None) -> list[NumberGroup]:
        """Every group of the account, read 1000 at a time.

        The first page tells `total`; the other pages are read concurrently. Groups are
        de-duplicated by groupId (offset paging can repeat a group when data changes mid-read),
        and a read whose count disagrees with `total` is repeated whole, up to
        `consistency_retries` more times, before `PnsConsistencyError`.
        """
        seen: list[str] = []
        for _ in range(1 + self.consistency_retries):
            groups, totals, pages = self._read_all_pages(progress)
            if len(set(totals)) == 1 and len(groups) == totals[0]:
                return groups
            seen.append(
                f"{len(groups)} distinct groups over {pages} page(s) while NXCloud reported "
                f"total {_describe_totals(totals)}"
            )
            logger.warning("nxcloud listGroup inconsistent read: %s; reading again", seen[-1])
        raise PnsConsistencyError(
            "NXCloud's group list kept changing while it was being read "
            f"({len(seen)} attempts: {'; '.join(seen)}). Try the refresh again.",
            attempts=len(seen),
        )

    def create_group(self, phones: Sequence[str], name: str = "", remark: str = "") -> str:
        """Create a G number group; returns its groupId."""
        payload: dict[str, Any] = {"phones": join_phones(phones)}
        if name:
            payload["groupName"] = name
        if remark:
            payload["remark"] = remark
        # A create that timed out may have happened: only retry when nothing was delivered.
        envelope = self._call(Action.CREATE_GROUP, payload, idempotent=False, whole=True)
        data = envelope.get("data")
        group_id = envelope.get("groupId")
        if group_id is None and isinstance(data, dict):
            group_id = data.get("groupId")
        if not isinstance(group_id, str) or not group_id:
            raise PnsProtocolError(
                "createGroup succeeded without a groupId",
                excerpt=_excerpt(json.dumps(envelope, ensure_ascii=False)),
                request_id=_request_id_of(envelope),
            )
        return group_id

    def update_group(
        self, group_id: str, operate_type: OperateType | int, phones: Sequence[str]
    ) -> None:
        """Add (0), delete (1) or replace all (2) numbers of a group."""
        operate = OperateType(operate_type)
        self._call(
            Action.UPDATE_GROUP,
            {"groupId": group_id, "operateType": int(operate), "phones": join_phones(phones)},
        )

    def delete_group(self, group_id: str) -> None:
        self._call(Action.DELETE_GROUP, {"groupId": group_id})

    # --- internals -----------------------------------------------------------------------

    def _read_all_pages(
        self, progress: ProgressCallback | None
    ) -> tuple[list[NumberGroup], list[int], int]:
        first, total = self.list_groups_page(PAGE_LIMIT, 0)
        offsets = list(range(PAGE_LIMIT, total, PAGE_LIMIT))
        pages_total = 1 + len(offsets)
        if progress:
            progress(1, pages_total)
        pages: dict[int, list[NumberGroup]] = {0: first}
        totals = [total]
        if offsets:
            with ThreadPoolExecutor(
                max_workers=min(self.max_workers, len(offsets)),
                thread_name_prefix="nxcloud-page",
            ) as pool:
                futures = {
                    pool.submit(self.list_groups_page, PAGE_LIMIT, offset): offset
                    for offset in offsets
                }
                try:
                    for done, future in enumerate(as_completed(futures), start=2):
                        page, page_total = future.result()
                        pages[futures[future]] = page
                        totals.append(page_total)
                        if progress:
                            progress(done, pages_total)
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        unique: dict[str, NumberGroup] = {}
        for offset in sorted(pages):
            for group in pages[offset]:
                unique.setdefault(group.group_id, group)
        return list(unique.values()), totals, pages_total

    def _call(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        idempotent: bool = True,
        whole: bool = False,
    ) -> Any:
        """Send one action, retrying what is safe to retry; returns the envelope's `data`
        (or the whole envelope when `whole`)."""
        body = serialize_body(payload)
        body_bytes = body.encode("utf-8")
        for attempt in range(1, self.max_attempts + 1):
            try:
                envelope = self._send_once(action, body, body_bytes, attempt)
            except PnsError as error:
                if attempt == self.max_attempts or not self._worth_retrying(error, idempotent):
                    raise
                time.sleep(self._backoff(attempt))
                continue
            return envelope if whole else envelope.get("data")
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _worth_retrying(error: PnsError, idempotent: bool) -> bool:
        if not error.retryable:
            return False
        return idempotent or (isinstance(error, PnsTransportError) and not error.delivered)

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff with full jitter, so parallel page reads do not retry in step.
        # Jitter, not cryptography.
        return random.uniform(0, self.backoff_seconds * 2 ** (attempt - 1))  # noqa: S311  # nosec B311

    @sensitive_variables("secret")
    def _send_once(self, action: str, body: str, body_bytes: bytes, attempt: int) -> dict:
        ts = str(time.time_ns() // 1_000_000)
        headers = {
            "accessKey": self.access_key,
            "action": action,
            "bizType": BIZ_TYPE_PNS,
            "ts": ts,
        }
        secret = self._access_secret
        headers["sign"] = sign(
            headers, body, secret() if callable(secret) else secret, self.algorithm
        )
        headers["Content-Type"] = "application/json"
        if self.algorithm == "sha256":
            headers["algorithm"] = "sha256"

        started = time.monotonic()
        status: int | None = None
        code: Any = None
        request_id: str | None = None
        try:
            try:
                response = self._session.post(
                    self.api_url, data=body_bytes, headers=headers, timeout=self.timeout
                )
            except requests.exceptions.ConnectionError as error:
                raise PnsTransportError(
                    f"Could not reach NXCloud at {self.api_url} ({_error_kind(error)}).",
                    retryable=True,
                    delivered=_may_have_been_delivered(error),
                ) from None
            except requests.exceptions.Timeout:
                raise PnsTransportError(
                    f"NXCloud did not answer within {self.timeout[1]:g} s ({self.api_url}).",
                    retryable=True,
                ) from None
            except requests.exceptions.RequestException as error:
                raise PnsTransportError(
                    f"Request to NXCloud failed ({_error_kind(error)}).", retryable=False
                ) from None

            status = response.status_code
            text = response.text
            if not 200 <= status < 300:
                raise PnsTransportError(
                    f"NXCloud answered HTTP {status} {response.reason or ''}".rstrip() + ".",
                    status=status,
                    retryable=status == 429 or status >= 500,
                    excerpt=_excerpt(text),
                )
            envelope = _parse_envelope(text)
            code = envelope["code"]
            request_id = _request_id_of(envelope)
            if code != 0:
                raise PnsApiError(
                    code, str(envelope.get("msg") or ""), request_id, action=action, sent_ts=ts
                )
            self.last_request_id = request_id
            return envelope
        finally:
            metrics.count_nxcloud_call(action, code, status)
            logger.log(
                logging.INFO if code == 0 else logging.WARNING,
                "nxcloud %s key=…%s status=%s code=%s requestId=%s attempt=%d ms=%d",
                action,
                self.access_key[-4:],
                status if status is not None else "-",
                code if code is not None else "-",
                request_id or "-",
                attempt,
                (time.monotonic() - started) * 1000,
            )


# --- parsing ---------------------------------------------------------------------------------


def _parse_envelope(text: str) -> dict:
    try:
        envelope = json.loads(text)
    except ValueError:
        raise PnsProtocolError("NXCloud's answer is not JSON", excerpt=_excerpt(text)) from None
    if not isinstance(envelope, dict):
        raise PnsProtocolError("NXCloud's answer is not a JSON object", excerpt=_excerpt(text))
    code = envelope.get("code")
    if isinstance(code, str) and code.lstrip("-").isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        raise PnsProtocolError(
            "NXCloud's answer has no numeric 'code'",
            excerpt=_excerpt(text),
            request_id=_request_id_of(envelope),
        )
    envelope["code"] = code
    return envelope


def _parse_group_page(data: Any) -> tuple[list[NumberGroup], int]:
    if not isinstance(data, dict):
        raise PnsProtocolError("listGroup answered without a 'data' object", excerpt=_dump(data))
    groups, total = data.get("groups"), data.get("total")
    if groups is None and total == 0:
        groups = []
    if not isinstance(groups, list):
        raise PnsProtocolError("listGroup's 'data.groups' is not a list", excerpt=_dump(data))
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise PnsProtocolError(
            "listGroup's 'data.total' is not a non-negative integer", excerpt=_dump(data)
        )
    return [_parse_group(raw) for raw in groups], total


def _parse_group(raw: Any) -> NumberGroup:
    if not isinstance(raw, dict):
        raise PnsProtocolError(
            "listGroup returned a group that is not an object", excerpt=_dump(raw)
        )
    group_id = raw.get("groupId")
    if not isinstance(group_id, str | int) or isinstance(group_id, bool) or group_id == "":
        raise PnsProtocolError("listGroup returned a group without a groupId", excerpt=_dump(raw))

    def text(field: str) -> str:
        value = raw.get(field)
        if value is None:
            return ""
        if not isinstance(value, str | int):
            raise PnsProtocolError(
                f"listGroup's '{field}' is not text for group {group_id}", excerpt=_dump(raw)
            )
        return str(value)

    return NumberGroup(
        group_id=str(group_id),
        name=text("groupName"),
        customer_id=text("customerId"),
        remark=text("remark"),
        phones=split_phones(text("phones")),
    )


def _request_id_of(envelope: dict) -> str | None:
    request_id = envelope.get("requestId")
    return str(request_id) if request_id not in (None, "") else None


def _describe_totals(totals: list[int]) -> str:
    distinct = sorted(set(totals))
    return (
        str(distinct[0]) if len(distinct) == 1 else " then ".join(map(str, dict.fromkeys(totals)))
    )


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dump(value: Any) -> str:
    return _excerpt(json.dumps(value, ensure_ascii=False, default=str))


def _error_kind(error: Exception) -> str:
    """A few words on why a request failed, without the URL's query or any header."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(reason, NameResolutionError):
        return "host name not found"
    if isinstance(reason, NewConnectionError):
        return "connection refused"
    return f"{type(error).__name__}"


def _may_have_been_delivered(error: requests.exceptions.ConnectionError) -> bool:
    """False when no connection was ever made (refused, DNS, connect timeout)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return not isinstance(reason, NewConnectionError | NameResolutionError)


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ms_to_iso(ts: str) -> str:
    try:
        return datetime.fromtimestamp(int(ts) / 1000, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return "not a millisecond timestamp"
