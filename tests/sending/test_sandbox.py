import json
import logging
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner

from webapp.sending import sandbox
from webapp.sending.gateway import Outcome
from webapp.sending.sandbox import (
    AccountState,
    Fault,
    SandboxConfig,
    SandboxGateway,
    SandboxServer,
    SandboxState,
    make_sandbox_server,
    sandbox_gateway_command,
)
from webapp.sending.telefon_ip import TelefonIpClient

TOKEN = "7d1c2b9e-sandbox-test-token"
PHONE = "79243555100"


@pytest.fixture
def server():
    server = make_sandbox_server("127.0.0.1", 0, token=TOKEN, rng=random.Random(1))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(5)


@pytest.fixture
def client(server):
    with TelefonIpClient(TOKEN, base_url=server.base_url, read_timeout=0.5) as client:
        yield client


def control(server: SandboxServer, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{server.port}/sandbox/{path}", **kwargs)


def configure(server: SandboxServer, **settings) -> None:
    response = control(server, "POST", "config", json=settings)
    assert response.status_code == 200, response.text


# The HTTP server, driven by the real client


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 here")
def test_a_sandbox_on_an_ipv6_address_gives_an_address_the_client_can_call():
    server = make_sandbox_server("::1", 0, token=TOKEN, rng=random.Random(1))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        assert server.base_url == f"http://[::1]:{server.port}/whatsapp"
        with TelefonIpClient(TOKEN, base_url=server.base_url, read_timeout=0.5) as client:
            assert client.send_message(PHONE, "Привет", app=1).outcome is Outcome.SENT
    finally:
        server.shutdown()
        thread.join(5)


def test_sent_message_is_answered_as_documented_and_listed(server, client):
    result = client.send_message(PHONE, "Привет, мир", app=3)
    assert result.outcome is Outcome.SENT
    assert result.gateway_status == "1"
    assert result.remote_jid == f"{PHONE}@s.whatsapp.net"
    listed = control(server, "GET", "messages").json()
    assert [(m["phone"], m["message"], m["app"], m["id"]) for m in listed["messages"]] == [
        (PHONE, "Привет, мир", 3, result.message_id)
    ]
    assert listed["attempts"] == {PHONE: 1}
    assert listed["sent_total"] == 1


def test_success_body_has_the_documented_shape(server):
    url = f"{server.base_url}/send_messages/{TOKEN}"
    response = httpx.get(url, params={"phone": PHONE, "message": "test"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["success", "value"]
    assert list(body["value"]) == ["id", "status", "message", "remoteJid"]
    assert body["success"] is True
    assert (body["value"]["status"], body["value"]["message"]) == (1, "test")
    assert body["value"]["remoteJid"] == "79243555100@s.whatsapp.net"
    assert len(body["value"]["id"]) == 22


def test_wrong_token_is_refused_with_the_documented_401(server):
    response = httpx.get(f"{server.base_url}/send_messages/wrong", params={"phone": PHONE})
    assert response.status_code == 401
    assert response.content == b'{"success": false, "error": "Unauthorized token", "data": {}}'


def test_balance_block_is_the_documented_400(server):
    configure(server, account="balance")
    response = httpx.get(f"{server.base_url}/send_messages/{TOKEN}", params={"phone": PHONE})
    assert response.status_code == 400
    assert response.content == (
        b'{"success": false, "error": "Blocking a client by balance", "data": {}}'
    )


@pytest.mark.parametrize(
    ("account", "problem"), [("balance", "balance"), ("unauthorized", "unauthorized")]
)
def test_account_state_switch_stops_every_send(server, client, account, problem):
    configure(server, account=account)
    result = client.send_message(PHONE, "hi")
    assert (result.outcome, result.account_problem) == (Outcome.ACCOUNT_ERROR, problem)
    configure(server, account="ok")
    assert client.send_message(PHONE, "hi").outcome is Outcome.SENT


@pytest.mark.parametrize(
    ("phone", "message", "app"),
    [
        ("+79243555100", "hi", None),
        ("7924355510", "hi", None),
        ("89243555100x", "hi", None),
        ("123", "hi", None),
        (PHONE, "", None),
        (PHONE, "   ", None),
    ],
)
def test_invalid_calls_are_refused_for_that_recipient(server, client, phone, message, app):
    result = client.send_message(phone, message, app)
    assert result.outcome is Outcome.RECIPIENT_ERROR
    assert result.http_status == 400
    assert result.error in (sandbox.INVALID_PHONE, sandbox.MISSING_MESSAGE)
    assert control(server, "GET", "messages").json()["messages"] == []


def test_international_numbers_are_accepted(client):
    assert client.send_message("380501234567", "hi").outcome is Outcome.SENT


def test_post_takes_fields_from_form_or_query(server, client):
    url = f"{server.base_url}/send_messages/{TOKEN}"
    by_form = httpx.post(url, data={"phone": PHONE, "message": "form"})
    by_query = httpx.post(url, params={"phone": PHONE, "message": "query", "app": "2"})
    long_text = client.send_message(PHONE, "Ж" * 2000)
    assert (by_form.status_code, by_query.status_code) == (200, 200)
    assert long_text.outcome is Outcome.SENT
    messages = control(server, "GET", "messages").json()["messages"]
    assert [(m["message"], m["app"]) for m in messages] == [
        ("form", None),
        ("query", 2),
        ("Ж" * 2000, None),
    ]


@pytest.mark.parametrize(
    ("fault", "outcome", "listed_as_sent"),
    [
        (Fault.SERVER_ERROR, Outcome.AMBIGUOUS, False),
        (Fault.UNAVAILABLE, Outcome.TRANSIENT, False),
        # The gateway sent it; a proxy in front gave up waiting and said so in HTML.
        (Fault.SENT_THEN_504, Outcome.AMBIGUOUS, True),
        (Fault.RATE_LIMITED, Outcome.TRANSIENT, False),
        (Fault.GARBAGE, Outcome.AMBIGUOUS, False),
        (Fault.DROP, Outcome.AMBIGUOUS, False),
        # The gateway sent it; only the answer came too late.
        (Fault.SLOW, Outcome.AMBIGUOUS, True),
        (Fault.RECIPIENT_ERROR, Outcome.RECIPIENT_ERROR, False),
    ],
)
def test_each_fault_reaches_the_client_as_its_outcome(
    server, client, fault, outcome, listed_as_sent
):
    configure(server, faults={fault: 1.0}, slow_s=1.0, retry_after_s=3)
    result = client.send_message(PHONE, "hi")
    assert result.outcome is outcome
    if fault in (Fault.RATE_LIMITED, Fault.UNAVAILABLE):
        assert result.retry_after == 3.0
    listed = control(server, "GET", "messages").json()
    assert listed["attempts"] == {PHONE: 1}
    assert len(listed["messages"]) == int(listed_as_sent)


def test_fault_rates_are_fractions_of_calls(server, client):
    configure(server, faults={"unavailable": 0.3, "recipient_error": 0.2})
    outcomes = [client.send_message(PHONE, "hi").outcome for _ in range(200)]
    assert 40 <= outcomes.count(Outcome.TRANSIENT) <= 80
    assert 20 <= outcomes.count(Outcome.RECIPIENT_ERROR) <= 60
    listed = control(server, "GET", "messages").json()
    assert listed["attempts"] == {PHONE: 200}
    assert listed["sent_total"] == outcomes.count(Outcome.SENT)


def test_concurrent_calls_overlap_their_latency(server, client):
    configure(server, latency_min_s=0.3, latency_max_s=0.3)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: client.send_message(f"7924355510{i}", "hi"), range(8)))
    elapsed = time.monotonic() - started
    assert [r.outcome for r in results] == [Outcome.SENT] * 8
    assert 0.3 <= elapsed < 1.2  # one after the other would take 2.4 s


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's receive times are Linux's")
def test_messages_are_timed_by_their_arrival_not_by_when_they_are_handled():
    server = make_sandbox_server("127.0.0.1", 0, token=TOKEN)
    path = f"/whatsapp/send_messages/{TOKEN}?phone={PHONE}&message=hi"
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        sent = datetime.now(UTC)
        time.sleep(0.3)  # a busy server: it takes the call only now
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        assert connection.recv(4096).startswith(b"HTTP/1.1 200")
    server.shutdown()
    thread.join(5)
    (message,) = server.state.messages()
    assert abs((message.time - sent).total_seconds()) < 0.05


def test_a_call_leaves_in_its_turn(server, client):
    events = []

    class Turn:
        def wait(self):
            time.sleep(0.2)
            events.append(("waited", datetime.now(UTC)))

        def left(self):
            events.append(("left", datetime.now(UTC)))

    assert client.send_message(PHONE, "hi", turn=Turn()).outcome is Outcome.SENT
    assert [name for name, _ in events] == ["waited", "left"]
    (message,) = server.state.messages()
    assert events[0][1] <= message.time <= events[1][1]


def test_messages_can_be_reset(server, client):
    client.send_message(PHONE, "hi")
    assert control(server, "DELETE", "messages").json() == {
        "messages": [],
        "sent_total": 0,
        "attempts": {},
    }
    assert control(server, "GET", "messages").json()["sent_total"] == 0


def test_config_endpoint_changes_and_reports_settings(server):
    configure(server, latency_min_s=0.01, latency_max_s=0.02, faults={"drop": 0.1})
    configure(server, faults={"slow": 0.2}, apps=[3, 4])
    assert control(server, "GET", "config").json() == {
        "latency_min_s": 0.01,
        "latency_max_s": 0.02,
        "faults": {"drop": 0.1, "slow": 0.2},
        "retry_after_s": 1,
        "slow_s": 35.0,
        "account": "ok",
        "apps": [3, 4],
    }


@pytest.mark.parametrize(
    "settings",
    [
        {"faults": {"drop": 0.7, "garbage": 0.7}},
        {"faults": {"meteor": 0.1}},
        {"account": "rich"},
        {"apps": ["main"]},
        {"latency_min_s": 2, "latency_max_s": 1},
        {"colour": "blue"},
        [1, 2],
    ],
)
def test_config_endpoint_refuses_bad_settings(server, settings):
    response = control(server, "POST", "config", json=settings)
    assert response.status_code == 400
    assert response.json()["error"]
    assert control(server, "GET", "config").json() == SandboxConfig().to_dict()


def test_token_is_masked_in_every_log_line(server, client, caplog):
    caplog.set_level(logging.DEBUG)
    client.send_message(PHONE, "hi")
    with TelefonIpClient("mistyped-real-token", base_url=server.base_url) as wrong:
        wrong.send_message(PHONE, "hi")
    configure(server, faults={"drop": 1.0})
    client.send_message(PHONE, "hi")
    server_lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /whatsapp/send_messages/***?phone=" in line for line in server_lines)
    for secret in (TOKEN, "mistyped-real-token"):
        assert secret not in caplog.text


def test_cli_builds_the_server_from_its_options(monkeypatch):
    served = []
    monkeypatch.setattr(SandboxServer, "serve_forever", lambda self, *a: served.append(self))
    result = CliRunner().invoke(
        sandbox_gateway_command,
        [
            "--port=0",
            "--token=cli-token",
            "--latency-ms=100-250",
            "--fail-rate=0.1",
            "--fault=drop=0.05",
            "--fault=rate_limited=0.2",
            "--retry-after=5",
            "--account=balance",
            "--seed=3",
        ],
    )
    assert result.exit_code == 0, result.output
    (server,) = served
    assert f"TELEFON_IP_BASE_URL=http://127.0.0.1:{server.port}/whatsapp" in result.output
    assert server.state.token == "cli-token"
    assert server.state.config == SandboxConfig(
        latency_min_s=0.1,
        latency_max_s=0.25,
        faults={Fault.SERVER_ERROR: 0.1, Fault.DROP: 0.05, Fault.RATE_LIMITED: 0.2},
        retry_after_s=5,
        account=AccountState.BALANCE,
    )
    server._server.server_close()


@pytest.mark.parametrize(
    "args",
    [
        ["--latency-ms=fast"],
        ["--latency-ms=300-100"],
        ["--fault=meteor=0.1"],
        ["--fault=drop"],
        ["--fail-rate=0.8", "--fault=drop=0.5"],
    ],
)
def test_cli_refuses_bad_options(args):
    result = CliRunner().invoke(sandbox_gateway_command, ["--port=0", *args])
    assert result.exit_code == 2
    assert "Error" in result.output


# The in-process SandboxGateway


class Recorder:
    """Stands in for time.sleep."""

    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


def make_gateway(config=None, *, seed=7, outbox_size=1000, sleep=None, timeout_s=30.0):
    state = SandboxState(
        config=config,
        rng=random.Random(seed),
        outbox_size=outbox_size,
        clock=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    )
    return SandboxGateway(state, timeout_s=timeout_s, sleep=sleep or Recorder())


def test_gateway_records_what_it_sent():
    gateway = make_gateway()
    result = gateway.send_message(PHONE, "Здравствуйте", app=2)
    assert result.outcome is Outcome.SENT
    (message,) = gateway.state.messages()
    assert (message.phone, message.message, message.app, message.id) == (
        PHONE,
        "Здравствуйте",
        2,
        result.message_id,
    )
    assert message.time == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_gateway_is_deterministic_with_a_seed():
    config = SandboxConfig(faults={Fault.UNAVAILABLE: 0.3, Fault.DROP: 0.2})

    def run():
        gateway = make_gateway(config, seed=11)
        return [gateway.send_message(PHONE, "hi") for _ in range(50)]

    first = run()
    assert first == run()
    assert {r.outcome for r in first} == {Outcome.SENT, Outcome.TRANSIENT, Outcome.AMBIGUOUS}


def test_gateway_failure_rates():
    config = SandboxConfig(
        faults={
            Fault.UNAVAILABLE: 0.1,
            Fault.RATE_LIMITED: 0.1,
            Fault.GARBAGE: 0.05,
            Fault.SENT_THEN_504: 0.05,
            Fault.RECIPIENT_ERROR: 0.2,
        }
    )
    gateway = make_gateway(config)
    results = [gateway.send_message(PHONE, "hi") for _ in range(2000)]
    outcomes = [r.outcome for r in results]
    assert 0.17 <= outcomes.count(Outcome.TRANSIENT) / 2000 <= 0.23
    assert 0.08 <= outcomes.count(Outcome.AMBIGUOUS) / 2000 <= 0.12
    assert 0.17 <= outcomes.count(Outcome.RECIPIENT_ERROR) / 2000 <= 0.23
    # What came back 504 was sent all the same.
    late = sum(r.http_status == 504 for r in results)
    assert 0.03 <= late / 2000 <= 0.07
    assert gateway.state.snapshot()["sent_total"] == outcomes.count(Outcome.SENT) + late


def test_gateway_latency_uses_the_injected_sleep():
    sleep = Recorder()
    gateway = make_gateway(SandboxConfig(latency_min_s=0.2, latency_max_s=0.9), sleep=sleep)
    for _ in range(100):
        gateway.send_message(PHONE, "hi")
    assert len(sleep.calls) == 100
    assert all(0.2 <= s <= 0.9 for s in sleep.calls)
    assert max(sleep.calls) - min(sleep.calls) > 0.5


def test_gateway_slow_answer_times_out_but_the_message_went_out():
    sleep = Recorder()
    config = SandboxConfig(faults={Fault.SLOW: 1.0}, slow_s=60)
    gateway = make_gateway(config, sleep=sleep, timeout_s=30)
    result = gateway.send_message(PHONE, "hi")
    assert result.outcome is Outcome.AMBIGUOUS
    assert sleep.calls == [30]
    assert len(gateway.state.messages()) == 1


def test_gateway_dropped_connection_is_ambiguous_and_not_sent():
    gateway = make_gateway(SandboxConfig(faults={Fault.DROP: 1.0}))
    assert gateway.send_message(PHONE, "hi").outcome is Outcome.AMBIGUOUS
    assert gateway.state.messages() == []
    assert gateway.state.attempts() == {PHONE: 1}


def test_gateway_account_switch():
    gateway = make_gateway()
    gateway.state.configure(account="unauthorized")
    result = gateway.send_message(PHONE, "hi")
    assert (result.outcome, result.account_problem, result.error) == (
        Outcome.ACCOUNT_ERROR,
        "unauthorized",
        "Unauthorized token",
    )
    gateway.state.configure(account=AccountState.BALANCE)
    assert gateway.send_message(PHONE, "hi").account_problem == "balance"
    gateway.state.configure(account="ok")
    assert gateway.send_message(PHONE, "hi").outcome is Outcome.SENT


def test_gateway_refuses_invalid_numbers():
    result = make_gateway().send_message("12", "hi")
    assert (result.outcome, result.error) == (Outcome.RECIPIENT_ERROR, sandbox.INVALID_PHONE)


def test_gateway_outbox_is_bounded():
    gateway = make_gateway(outbox_size=3)
    for i in range(5):
        gateway.send_message(PHONE, f"message {i}")
    assert [m.message for m in gateway.state.messages()] == [
        "message 2",
        "message 3",
        "message 4",
    ]
    assert gateway.state.snapshot()["sent_total"] == 5


def test_gateway_is_thread_safe():
    gateway = make_gateway(outbox_size=10_000)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: gateway.send_message(f"7900000{i:04d}", "hi"), range(800))
        )
    assert all(r.outcome is Outcome.SENT for r in results)
    assert len({r.message_id for r in results}) == 800
    assert len(gateway.state.messages()) == 800
    assert sum(gateway.state.attempts().values()) == 800


def test_gateway_messages_serialise_to_json():
    gateway = make_gateway()
    gateway.send_message(PHONE, "hi")
    snapshot = json.loads(json.dumps(gateway.state.snapshot()))
    assert snapshot["messages"][0]["time"] == "2024-05-01T12:00:00+00:00"


@pytest.mark.parametrize(
    "settings",
    [
        {"faults": {Fault.DROP: 1.5}},
        {"faults": {Fault.DROP: 0.6, Fault.SLOW: 0.6}},
        {"latency_min_s": -1.0},
        {"slow_s": -1.0},
    ],
)
def test_config_validation(settings):
    with pytest.raises(ValueError):
        SandboxConfig(**settings)
