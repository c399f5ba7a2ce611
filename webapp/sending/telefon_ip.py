"""The telefon-ip.ru WhatsApp gateway client (``send_messages``), on a pooled ``httpx.Client``.

The API token is part of every URL, so no URL of this API is logged, shown or put in an error
text: httpx's own request log goes through a redacting filter, and error texts are built here.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from ..i18n import N_
from .gateway import (
    AccountProblem,
    GatewayConfigError,
    Outcome,
    RedactingFilter,
    SendResult,
    Turn,
    redact_gateway_urls,
)

DEFAULT_BASE_URL = "https://api.telefon-ip.ru/whatsapp"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
# Longer GET URLs risk being cut by proxies; the API accepts the same fields as a POST form.
MAX_GET_URL_BYTES = 1800
# Gateway texts shorter than this are kept whole; longer ones are cut.
ERROR_EXCERPT_CHARS = 200
# Retry-After asks us to wait; a longer (or absurd) wait is cut to this.
MAX_RETRY_AFTER_S = 600.0

CONNECT_FAILED = N_("Could not connect to the gateway")
NO_FREE_CONNECTION = N_("No free connection to the gateway: too many sends in flight")
ANSWER_TIMED_OUT = N_("No answer from the gateway in time; the message may have been sent")
CONNECTION_BROKE = N_(
    "The connection to the gateway broke before it answered; the message may have been sent"
)
UNEXPECTED_ANSWER = N_(
    "The gateway answered with something unexpected; the message may have been sent"
)
SERVER_ERROR = N_("The gateway answered with a server error; the message may have been sent")
UNAVAILABLE = N_("The gateway is temporarily unavailable")
SLOW_DOWN = N_("The gateway asked to send more slowly")
REDIRECTED = N_("The gateway answered with a redirect: check the gateway address")
NOT_FOUND = N_("The gateway address was not found (HTTP 404): check the gateway address")
FORBIDDEN = N_("The gateway refused access (HTTP 403): check the firewall and the account")
REFUSED = N_("The gateway refused the message without saying why")
TOKEN_REJECTED = N_("The gateway rejected the API token")

# Answers that say the gateway did nothing: the message may be sent again. 408: the gateway
# gave up waiting for our request, so it did not act on it.
_TRANSIENT_STATUSES = {408: UNAVAILABLE, 429: SLOW_DOWN, 503: UNAVAILABLE}
# Any other 5xx may come from a proxy that gave up while the gateway went on: maybe sent.
_SERVER_ERRORS = {
    500: N_("The gateway failed (HTTP 500); the message may have been sent"),
    502: N_(
        "A proxy got no valid answer from the gateway (HTTP 502); the message may have been sent"
    ),
    504: N_("A proxy timed out waiting for the gateway (HTTP 504); the message may have been sent"),
}
# Answers no call can get past (a wrong address, a firewall) unless someone changes something.
_GATEWAY_STATUSES = {403: FORBIDDEN, 404: NOT_FOUND}

# Exceptions that say whether the request went out; checked in order.
_TRANSPORT_FAILURES: tuple[tuple[tuple[type[Exception], ...], Outcome, str], ...] = (
    (
        (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError),
        Outcome.TRANSIENT,
        CONNECT_FAILED,
    ),
    ((httpx.PoolTimeout,), Outcome.TRANSIENT, NO_FREE_CONNECTION),
    ((httpx.ReadTimeout, httpx.WriteTimeout), Outcome.AMBIGUOUS, ANSWER_TIMED_OUT),
)

logger = logging.getLogger(__name__)
_httpx_log_filter = RedactingFilter()


def _install_httpx_log_filter() -> None:
    """Make httpx's "HTTP Request: GET <url>" log lines token-free, once per process."""
    httpx_logger = logging.getLogger("httpx")
    if _httpx_log_filter not in httpx_logger.filters:
        httpx_logger.addFilter(_httpx_log_filter)


class TelefonIpClient:
    """A ``Gateway`` sending through telefon-ip.ru; thread-safe, one connection pool."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Timeouts in seconds: ``connect_timeout`` to connect, ``read_timeout`` for the rest."""
        if not token or not token.strip():
            raise GatewayConfigError("the telefon-ip API token is empty")
        if not re.match(r"https?://[^/\s]+", base_url):
            raise GatewayConfigError("the telefon-ip base URL must start with http:// or https://")
        _install_httpx_log_filter()
        self._token = token
        self._url = f"{base_url.rstrip('/')}/send_messages/{quote(token, safe='')}"
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"<TelefonIpClient {redact_gateway_urls(self._url)}>"

    def __enter__(self) -> TelefonIpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_message(
        self, phone: str, message: str, app: int | None = None, *, turn: Turn | None = None
    ) -> SendResult:
        params = send_fields(phone, message, app)
        get_url = httpx.URL(self._url, params=params)
        extensions = {"trace": _trace_turn(turn)} if turn else {}
        try:
            if len(str(get_url).encode()) > MAX_GET_URL_BYTES:
                response = self._http.post(self._url, data=params, extensions=extensions)
            else:
                response = self._http.get(get_url, extensions=extensions)
        except httpx.HTTPError as exc:
            result = result_for_exception(exc)
            logger.warning(
                "telefon-ip send failed (%s): %s: %s",
                result.outcome,
                type(exc).__name__,
                redact_gateway_urls(str(exc), [self._token]),
            )
            return result
        result = interpret_response(response, token=self._token)
        logger.debug("telefon-ip answered HTTP %s: %s", response.status_code, result.outcome)
        return result

    def close(self) -> None:
        self._http.close()


def _trace_turn(turn: Turn) -> Callable[[str, dict], None]:
    """An httpcore trace hook taking the number's turn right before the request line goes out
    (the connection is ready by then) and letting it go once the headers are out."""

    def trace(event: str, info: dict) -> None:
        if event.endswith(".send_request_headers.started"):
            turn.wait()
        elif event.endswith(".send_request_headers.complete"):
            turn.left()

    return trace


def send_fields(phone: str, message: str, app: int | None = None) -> dict[str, str]:
    """The fields of one ``send_messages`` call; ``app`` only when given."""
    fields = {"phone": phone, "message": message}
    if app is not None:
        fields["app"] = str(app)
    return fields


def result_for_exception(exc: httpx.HTTPError) -> SendResult:
    """The result of a request that got no HTTP answer; the text never quotes ``exc``."""
    for types, outcome, error in _TRANSPORT_FAILURES:
        if isinstance(exc, types):
            return SendResult(outcome, error=error)
    # Anything else (RemoteProtocolError, ReadError, ...) broke after the request went out.
    return SendResult(Outcome.AMBIGUOUS, error=CONNECTION_BROKE)


def interpret_response(response: httpx.Response, *, token: str = "") -> SendResult:
    """Classify an HTTP answer of ``send_messages``; ``token`` is masked out of quoted texts.

    Only the gateway's documented JSON ``error`` is quoted; any other body (a proxy's page)
    is never quoted: the status code alone says what happened.
    """
    status = response.status_code
    body = _json_object(response.content)
    gateway_error = body.get("error") if body else None
    error = _quote(str(gateway_error), token) if gateway_error not in (None, "") else None

    problem = account_problem(status, error)
    if problem:
        # A balance block is only ever known from its text; the others may come without one.
        fallback = TOKEN_REJECTED if problem == "unauthorized" else _GATEWAY_STATUSES.get(status)
        return SendResult(
            Outcome.ACCOUNT_ERROR,
            error=error or fallback or REDIRECTED,
            http_status=status,
            account_problem=problem,
        )
    if status in _TRANSIENT_STATUSES:
        return SendResult(
            Outcome.TRANSIENT,
            error=_TRANSIENT_STATUSES[status],
            http_status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500:
        return SendResult(
            Outcome.AMBIGUOUS, error=_SERVER_ERRORS.get(status, SERVER_ERROR), http_status=status
        )
    if body is None:
        # Not the gateway's JSON: a proxy's page or garbage, after which it may have sent it.
        return SendResult(Outcome.AMBIGUOUS, error=UNEXPECTED_ANSWER, http_status=status)
    if status >= 400 or body.get("success") is False:
        return SendResult(Outcome.RECIPIENT_ERROR, error=error or REFUSED, http_status=status)
    value = body.get("value") if body.get("success") is True else None
    message_id = _message_id(value)
    if message_id is None:
        return SendResult(Outcome.AMBIGUOUS, error=UNEXPECTED_ANSWER, http_status=status)
    remote_jid = value.get("remoteJid")
    return SendResult(
        Outcome.SENT,
        message_id=message_id,
        gateway_status=_as_text(value.get("status")),
        remote_jid=remote_jid if isinstance(remote_jid, str) else None,
        http_status=status,
    )


def account_problem(status: int, error: str | None) -> AccountProblem | None:
    """Whether an answer stops every further call, and why; None when it concerns one call."""
    meaning = (error or "").lower().rstrip(" .!;:")
    if status == 401 or meaning == "unauthorized token":
        return "unauthorized"
    if "balance" in meaning:
        return "balance"
    if 300 <= status < 400 or status == 404 or (status == 403 and error is None):
        # A wrong address or a firewall: nothing gets through until someone changes it.
        return "gateway_error"
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date), or None.

    At most ``MAX_RETRY_AFTER_S``; a header that is no number nor date counts as absent.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def _json_object(content: bytes) -> dict | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _message_id(value: object) -> str | None:
    message_id = value.get("id") if isinstance(value, dict) else None
    if isinstance(message_id, bool) or not isinstance(message_id, str | int):
        return None
    return str(message_id) or None


def _quote(text: str, token: str) -> str:
    """The gateway's ``text`` to keep as an error: token-free, on one line, cut short."""
    text = " ".join(redact_gateway_urls(text, [token]).split())
    if len(text) > ERROR_EXCERPT_CHARS:
        return text[: ERROR_EXCERPT_CHARS - 1] + "…"
    return text


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
