"""A sandbox of the telefon-ip.ru gateway that honours its contract, with injectable faults.

``SandboxState`` decides every answer, as the bytes the real gateway would send. Two faces use
it: ``SandboxGateway`` in-process (the default when no token is configured), reading the answers
with the real client's parser, and an HTTP server (``make_sandbox_server``, ``flask
sandbox-gateway``) for end-to-end runs of the real client.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .gateway import SendResult, Turn, leaving, redact_gateway_urls
from .telefon_ip import READ_TIMEOUT_S, interpret_response, result_for_exception, send_fields

DEFAULT_TOKEN = "sandbox"
# A number starting with 7 (Russia, Kazakhstan) has 11 digits; others 10 to 15 (E.164).
PHONE_RE = re.compile(r"7\d{10}|[1-689]\d{9,14}")

UNAUTHORIZED = "Unauthorized token"
BALANCE_BLOCKED = "Blocking a client by balance"
INVALID_PHONE = "Invalid phone number, expected digits only in the format 79xxxxxxxxx"
MISSING_MESSAGE = "The message text is empty"
INVALID_APP = "Invalid app, expected an integer"
UNKNOWN_APP = "This app is not linked to the account"
NOT_ON_WHATSAPP = "The phone number is not registered in WhatsApp"
UNKNOWN_ACTION = "Unknown action"
SERVER_ERROR_PAGE = (
    b"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    b"<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n"
)
GATEWAY_TIMEOUT_PAGE = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"
)
UNAVAILABLE_PAGE = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)
GARBAGE_PAGE = b"<!DOCTYPE html><html><body><h1>Technical works</h1></body></html>"
JSON_TYPE = "application/json; charset=utf-8"
ARRIVED = "sandbox.arrived"
"""The WSGI environ key of when a request reached the machine, if the system tells."""


class Fault(StrEnum):
    SERVER_ERROR = "server_error"
    """500 with an HTML page; the message is not sent."""
    UNAVAILABLE = "unavailable"
    """503 with an HTML page and a Retry-After header, before anything is sent."""
    SENT_THEN_504 = "sent_then_504"
    """The message is sent, but a proxy answers 504 with an HTML page: it gave up waiting."""
    RATE_LIMITED = "rate_limited"
    """429 with a Retry-After header."""
    GARBAGE = "garbage"
    """200 with an HTML page instead of the JSON."""
    DROP = "drop"
    """The connection is closed without an answer."""
    SLOW = "slow"
    """The normal answer (the message is sent), but ``slow_s`` late: beyond a client's timeout."""
    RECIPIENT_ERROR = "recipient_error"
    """400: this number is not on WhatsApp."""


class AccountState(StrEnum):
    OK = "ok"
    BALANCE = "balance"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class SandboxConfig:
    latency_min_s: float = 0.0
    latency_max_s: float = 0.0
    faults: Mapping[Fault, float] = field(default_factory=dict)
    """The fraction of calls answered with each fault; at most one fault per call."""
    retry_after_s: int = 1
    slow_s: float = READ_TIMEOUT_S + 5
    account: AccountState = AccountState.OK
    apps: tuple[int, ...] = ()
    """The account's linked WhatsApp apps; a call from another is refused. Empty: any."""

    def __post_init__(self) -> None:
        if not 0 <= self.latency_min_s <= self.latency_max_s:
            raise ValueError("latency must satisfy 0 <= latency_min_s <= latency_max_s")
        if any(not 0 <= rate <= 1 for rate in self.faults.values()):
            raise ValueError("fault rates must be between 0 and 1")
        if sum(self.faults.values()) > 1:
            raise ValueError("fault rates must add up to 1 at most")
        if self.retry_after_s < 0 or self.slow_s < 0:
            raise ValueError("retry_after_s and slow_s must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "faults": {str(k): v for k, v in self.faults.items()},
            "apps": list(self.apps),
        }

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` (JSON-like, ``faults`` merged per kind); ValueError if bad."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        values = {f.name: getattr(self, f.name) for f in fields(self)} | dict(changes)
        try:
            return SandboxConfig(
                latency_min_s=float(values["latency_min_s"]),
                latency_max_s=float(values["latency_max_s"]),
                faults={
                    **self.faults,
                    **{Fault(k): float(v) for k, v in dict(changes.get("faults", {})).items()},
                },
                retry_after_s=int(values["retry_after_s"]),
                slow_s=float(values["slow_s"]),
                account=AccountState(values["account"]),
                apps=tuple(int(app) for app in values["apps"]),
            )
        except TypeError as exc:
            raise ValueError(str(exc)) from exc


@dataclass(frozen=True)
class SandboxMessage:
    phone: str
    message: str
    app: int | None
    id: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"time": self.time.isoformat()}


@dataclass(frozen=True)
class Answer:
    """What the gateway does with one call: an HTTP answer, after ``delay_s``, or a drop."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


class SandboxState:
    """The sandbox gateway's settings and records; thread-safe."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        config: SandboxConfig | None = None,
        *,
        rng: random.Random | None = None,
        outbox_size: int = 1000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.token = token
        self._config = config or SandboxConfig()
        self._rng = rng or random.Random()
        self._clock = clock
        self._lock = threading.Lock()
        self._outbox: deque[SandboxMessage] = deque(maxlen=outbox_size)
        self._sent_total = 0
        self._attempts: Counter[str] = Counter()

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change settings at runtime (see ``SandboxConfig.updated``); returns the new ones."""
        with self._lock:
            self._config = self._config.updated(changes)
            return self._config

    def messages(self) -> list[SandboxMessage]:
        """The latest messages answered as sent, oldest first (at most ``outbox_size``)."""
        with self._lock:
            return list(self._outbox)

    def attempts(self) -> dict[str, int]:
        """How many calls came for each phone, whatever their answer."""
        with self._lock:
            return dict(self._attempts)

    def snapshot(self) -> dict[str, Any]:
        """The records as the ``GET /sandbox/messages`` JSON."""
        with self._lock:
            return {
                "messages": [m.to_dict() for m in self._outbox],
                "sent_total": self._sent_total,
                "attempts": dict(self._attempts),
            }

    def reset(self) -> None:
        """Forget every message and attempt."""
        with self._lock:
            self._outbox.clear()
            self._sent_total = 0
            self._attempts.clear()

    def answer(
        self, token: str, params: Mapping[str, str], arrived: datetime | None = None
    ) -> Answer:
        """Handle one ``send_messages`` call as the gateway would; ``arrived``: when it came
        (now if not given), the time of the message sent."""
        with self._lock:
            config = self._config
            phone = params.get("phone", "")
            self._attempts[phone] += 1
            fault = self._draw_fault(config)
            delay_s = self._rng.uniform(config.latency_min_s, config.latency_max_s)
            if fault is Fault.SLOW:
                delay_s += config.slow_s
            if fault is Fault.DROP:
                return Answer(delay_s=delay_s, drop=True)
            status, payload, headers = self._reply(token, params, fault, config, arrived)
        if isinstance(payload, bytes):
            return Answer(status, payload, {"Content-Type": "text/html", **headers}, delay_s)
        body = json.dumps(payload, ensure_ascii=False).encode()
        return Answer(status, body, {"Content-Type": JSON_TYPE, **headers}, delay_s)

    def _draw_fault(self, config: SandboxConfig) -> Fault | None:
        draw = self._rng.random()
        for fault, rate in config.faults.items():
            if draw < rate:
                return fault
            draw -= rate
        return None

    def _reply(
        self,
        token: str,
        params: Mapping[str, str],
        fault: Fault | None,
        config: SandboxConfig,
        arrived: datetime | None,
    ) -> tuple[int, bytes | dict, dict[str, str]]:
        # Network-level faults come before the gateway looks at the call; then the account,
        # then the call itself, as a real service checks them.
        if fault is Fault.SERVER_ERROR:
            return 500, SERVER_ERROR_PAGE, {}
        if fault is Fault.UNAVAILABLE:
            return 503, UNAVAILABLE_PAGE, {"Retry-After": str(config.retry_after_s)}
        if fault is Fault.RATE_LIMITED:
            return 429, _refusal("Too Many Requests"), {"Retry-After": str(config.retry_after_s)}
        if fault is Fault.GARBAGE:
            return 200, GARBAGE_PAGE, {}
        if config.account is AccountState.UNAUTHORIZED or not hmac.compare_digest(
            token.encode(), self.token.encode()
        ):
            return 401, _refusal(UNAUTHORIZED), {}
        if config.account is AccountState.BALANCE:
            return 400, _refusal(BALANCE_BLOCKED), {}
        phone, message, app = params.get("phone", ""), params.get("message", ""), params.get("app")
        if not PHONE_RE.fullmatch(phone):
            return 400, _refusal(INVALID_PHONE), {}
        if not message.strip():
            return 400, _refusal(MISSING_MESSAGE), {}
        if app is not None and not re.fullmatch(r"\d+", app):
            return 400, _refusal(INVALID_APP), {}
        if app is not None and config.apps and int(app) not in config.apps:
            return 400, _refusal(UNKNOWN_APP), {}
        if fault is Fault.RECIPIENT_ERROR:
            return 400, _refusal(NOT_ON_WHATSAPP), {}
        sent = SandboxMessage(
            phone=phone,
            message=message,
            app=None if app is None else int(app),
            id=f"3EB0{self._rng.getrandbits(72):018X}",
            time=arrived or self._clock(),
        )
        self._outbox.append(sent)
        self._sent_total += 1
        if fault is Fault.SENT_THEN_504:
            return 504, GATEWAY_TIMEOUT_PAGE, {}
        value = {
            "id": sent.id,
            "status": 1,
            "message": message,
            "remoteJid": f"{phone}@s.whatsapp.net",
        }
        return 200, {"success": True, "value": value}, {}


def _refusal(error: str) -> dict[str, Any]:
    return {"success": False, "error": error, "data": {}}


class SandboxGateway:
    """An in-process ``Gateway`` answering as the sandbox server would, read by the real parser."""

    def __init__(
        self,
        state: SandboxState | None = None,
        *,
        timeout_s: float = READ_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = state or SandboxState()
        self.timeout_s = timeout_s
        self._sleep = sleep

    def send_message(
        self, phone: str, message: str, app: int | None = None, *, turn: Turn | None = None
    ) -> SendResult:
        with leaving(turn):
            answer = self.state.answer(self.state.token, send_fields(phone, message, app))
        if answer.delay_s > self.timeout_s:
            self._sleep(self.timeout_s)
            return result_for_exception(httpx.ReadTimeout("sandbox: no answer in time"))
        self._sleep(answer.delay_s)
        if answer.drop:
            return result_for_exception(httpx.RemoteProtocolError("sandbox: connection dropped"))
        return interpret_response(
            httpx.Response(answer.status, headers=dict(answer.headers), content=answer.body)
        )

    def close(self) -> None:
        """Nothing to release."""


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status, content_type=JSON_TYPE)


def sandbox_wsgi_app(state: SandboxState) -> Callable:
    """The sandbox gateway as a WSGI application: the contract plus ``/sandbox/`` controls."""
    url_map = Map(
        [
            Rule("/whatsapp/<action>/<token>", endpoint="gateway", methods=["GET", "POST"]),
            Rule("/sandbox/messages", endpoint="messages", methods=["GET", "DELETE"]),
            Rule("/sandbox/config", endpoint="config", methods=["GET", "POST"]),
        ]
    )

    def gateway(request: Request, action: str, token: str) -> Response:
        if action != "send_messages":
            return _json(_refusal(UNKNOWN_ACTION), 404)
        # For GET only the query string counts; a POST may use its form, its query or both.
        answer = state.answer(token, request.values.to_dict(), request.environ.get(ARRIVED))
        time.sleep(answer.delay_s)
        if answer.drop:
            request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            # werkzeug treats a ConnectionError from the app as the client going away: no answer.
            raise ConnectionAbortedError("sandbox: connection dropped on purpose")
        return Response(answer.body, answer.status, headers=dict(answer.headers))

    def messages(request: Request) -> Response:
        if request.method == "DELETE":
            state.reset()
        return _json(state.snapshot())

    def config(request: Request) -> Response:
        if request.method == "POST":
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict):
                return _json({"error": "expected a JSON object of settings"}, 400)
            try:
                state.configure(**changes)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json(state.config.to_dict())

    views = {"gateway": gateway, "messages": messages, "config": config}

    @Request.application
    def app(request: Request) -> Response:
        try:
            endpoint, args = url_map.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return exc.get_response()
        # The controls change faults and show every message: only for this machine, and a
        # loopback Host keeps a web page's DNS-rebound requests out too.
        if endpoint != "gateway" and not (
            is_loopback(request.remote_addr) and is_loopback(urlsplit(f"//{request.host}").hostname)
        ):
            return _json({"error": "the sandbox controls answer loopback clients only"}, 403)
        return views[endpoint](request, **args)

    return app


def is_loopback(host: str | None) -> bool:
    """Whether ``host``, a name or an address, can only mean this machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # A dual-stack socket shows an IPv4 client as ::ffff:127.0.0.1.
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


# Linux's SO_TIMESTAMPNS (Python does not name it): the kernel notes when bytes came in.
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")


class _StampedReader(io.RawIOBase):
    """A connection's reader that keeps when the kernel received the last bytes read."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.received: datetime | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size, ancillary, _, _ = self._sock.recvmsg_into([buffer], socket.CMSG_SPACE(_TIMESPEC.size))
        self.received = None
        for level, kind, data in ancillary:
            if (level, kind) == (socket.SOL_SOCKET, _SO_TIMESTAMPNS):
                seconds, nanoseconds = _TIMESPEC.unpack(data)
                self.received = datetime.fromtimestamp(seconds + nanoseconds / 1e9, UTC)
        return size


def stamps_arrivals(server: BaseWSGIServer) -> bool:
    """Whether the kernel notes when the server's requests come (Linux, plain HTTP)."""
    return sys.platform == "linux" and server.ssl_context is None


class _RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, logging request lines with gateway tokens masked, and
    timing each call by when it reached the machine: a handler thread woken late (a busy CPU)
    must not move a call's time, as the gaps between calls are measured at the sandbox."""

    _stamped: _StampedReader | None = None

    def setup(self) -> None:
        super().setup()
        # The listening socket asked for the times (``stamp_arrivals``): its connections have
        # them from their first bytes, which may come before this thread runs.
        if stamps_arrivals(self.server):
            self._stamped = _StampedReader(self.connection)
            self.rfile = io.BufferedReader(self._stamped)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        # A call's request comes in one piece: the last bytes read are its first ones.
        environ[ARRIVED] = self._stamped and self._stamped.received
        return environ

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, "%s", redact_gateway_urls(message % args if args else message))


class SandboxServer:
    """A bound sandbox HTTP server: ``serve_forever()`` in one thread, ``shutdown()`` in another."""

    def __init__(self, server: BaseWSGIServer, state: SandboxState) -> None:
        self._server = server
        self.state = state

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        """The ``TELEFON_IP_BASE_URL`` that points a client at this server."""
        return f"http://{url_host(self._server.host)}:{self.port}/whatsapp"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Answer calls until ``shutdown()``, which waits up to ``poll_interval`` seconds."""
        self._server.serve_forever(poll_interval)

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (which then closes the socket); answers in progress finish."""
        self._server.shutdown()


def url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def make_sandbox_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    token: str = DEFAULT_TOKEN,
    config: SandboxConfig | None = None,
    rng: random.Random | None = None,
    outbox_size: int = 1000,
) -> SandboxServer:
    """Bind a threaded sandbox server (``port=0`` picks a free port); it serves once started.

    It keeps the last ``outbox_size`` messages: a run measured at the sandbox needs them all.
    """
    state = SandboxState(token, config, rng=rng, outbox_size=outbox_size)
    server = make_server(
        host, port, sandbox_wsgi_app(state), threaded=True, request_handler=_RedactingRequestHandler
    )
    if stamps_arrivals(server):
        server.socket.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    return SandboxServer(server, state)


def _parse_latency(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?", value)
    if not match:
        raise click.BadParameter("expected milliseconds as MIN-MAX or a single number")
    low = float(match[1]) / 1000
    high = float(match[2]) / 1000 if match[2] else low
    if high < low:
        raise click.BadParameter("MIN must not exceed MAX")
    return low, high


def _parse_faults(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[Fault, float]:
    faults = {}
    for value in values:
        kind, _, rate = value.partition("=")
        try:
            faults[Fault(kind.strip())] = float(rate)
        except ValueError:
            kinds = ", ".join(Fault)
            raise click.BadParameter(f"expected KIND=RATE with KIND one of {kinds}") from None
    return faults


@click.command("sandbox-gateway")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback (the controls still answer loopback only).",
)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--token", default=DEFAULT_TOKEN, show_default=True, help="The token it accepts.")
@click.option(
    "--latency-ms",
    default="0",
    show_default=True,
    metavar="MIN-MAX",
    callback=_parse_latency,
    help="Delay of every answer, drawn evenly between MIN and MAX milliseconds.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of calls answered 500 (same as --fault server_error=RATE).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=RATE",
    callback=_parse_faults,
    help=f"Fraction of calls answered with a fault; repeatable. KIND: {', '.join(Fault)}.",
)
@click.option(
    "--retry-after",
    default=1,
    show_default=True,
    type=int,
    help="Retry-After of 429 and 503 answers.",
)
@click.option(
    "--slow-s",
    default=SandboxConfig.slow_s,
    show_default=True,
    type=float,
    help="Extra delay of slow answers.",
)
@click.option(
    "--account",
    default=AccountState.OK.value,
    show_default=True,
    type=click.Choice([s.value for s in AccountState]),
    help="Answer every call as this account would.",
)
@click.option("--seed", type=int, help="Seed the random faults, latencies and ids.")
def sandbox_gateway_command(
    host: str,
    allow_remote: bool,
    port: int,
    token: str,
    latency_ms: tuple[float, float],
    fail_rate: float,
    faults: dict[Fault, float],
    retry_after: int,
    slow_s: float,
    account: str,
    seed: int | None,
) -> None:
    """Run a sandbox of the telefon-ip.ru WhatsApp gateway for development and tests."""
    try:
        config = SandboxConfig(
            latency_min_s=latency_ms[0],
            latency_max_s=latency_ms[1],
            faults={Fault.SERVER_ERROR: fail_rate} | faults,
            retry_after_s=retry_after,
            slow_s=slow_s,
            account=AccountState(account),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not is_loopback(host):
        if not allow_remote:
            raise click.UsageError(
                f"--host {host} is reachable from other machines; add --allow-remote to mean it"
            )
        click.echo(
            f"Warning: the sandbox gateway listens on {host}, open to other machines; it accepts "
            "anyone with its token. Its /sandbox/ controls answer loopback clients only.",
            err=True,
        )
    server = make_sandbox_server(host, port, token=token, config=config, rng=random.Random(seed))
    click.echo(f"Sandbox gateway: TELEFON_IP_BASE_URL={server.base_url}")
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    click.echo(
        f"Messages: http://{url_host(local)}:{server.port}/sandbox/messages (Ctrl+C to stop)"
    )
    server.serve_forever()
