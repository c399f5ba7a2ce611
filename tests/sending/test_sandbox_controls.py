"""The sandbox's controls (faults, every message sent) answer this machine only."""

import random
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from werkzeug.test import Client

from webapp.sending.sandbox import (
    SandboxServer,
    SandboxState,
    sandbox_gateway_command,
    sandbox_wsgi_app,
)

from .conftest import TOKEN

PHONE = "79243555100"


@pytest.fixture
def served(monkeypatch) -> Iterator[list[SandboxServer]]:
    """The servers the command would serve: bound, then closed after the test."""
    servers: list[SandboxServer] = []
    monkeypatch.setattr(SandboxServer, "serve_forever", lambda self, *a: servers.append(self))
    yield servers
    for server in servers:
        server._server.server_close()


def send(server: SandboxServer, **headers: str) -> httpx.Response:
    url = f"http://127.0.0.1:{server.port}/whatsapp/send_messages/{TOKEN}"
    return httpx.get(url, params={"phone": PHONE, "message": "hi"}, headers=headers)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_controls_answer_a_loopback_host(server, host):
    send(server)
    headers = {"Host": host.format(port=server.port)}
    messages = httpx.get(f"http://127.0.0.1:{server.port}/sandbox/messages", headers=headers)
    assert messages.status_code == 200 and messages.json()["sent_total"] == 1


@pytest.mark.parametrize("host", ["evil.test", "evil.test:{port}", "10.0.0.8:{port}", ""])
def test_controls_refuse_any_other_host_header(server, host):
    """A page on another site that rebinds its name to 127.0.0.1 sends its own Host."""
    send(server)
    headers = {"Host": host.format(port=server.port)}
    base = f"http://127.0.0.1:{server.port}/sandbox"
    looked = httpx.get(f"{base}/messages", headers=headers)
    changed = httpx.post(f"{base}/config", json={"faults": {"drop": 1.0}}, headers=headers)
    wiped = httpx.delete(f"{base}/messages", headers=headers)
    for response in (looked, changed, wiped):
        assert response.status_code == 403
        assert "loopback" in response.json()["error"]
        assert PHONE not in response.text
    assert server.state.config.faults == {}
    assert server.state.snapshot()["sent_total"] == 1


def test_remote_clients_may_send_but_not_reach_the_controls():
    state = SandboxState(TOKEN, rng=random.Random(2))
    client = Client(sandbox_wsgi_app(state))
    remote = {"environ_base": {"REMOTE_ADDR": "203.0.113.7"}}
    sent = client.get(f"/whatsapp/send_messages/{TOKEN}?phone={PHONE}&message=hi", **remote)
    assert sent.status_code == 200 and sent.json["success"] is True
    assert client.get("/sandbox/messages", **remote).status_code == 403
    assert client.post("/sandbox/config", json={"account": "balance"}, **remote).status_code == 403
    assert state.config.account == "ok"
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        local = client.get("/sandbox/messages", environ_base={"REMOTE_ADDR": address})
        assert local.json["sent_total"] == 1
    mapped_remote = client.get("/sandbox/messages", environ_base={"REMOTE_ADDR": "::ffff:8.8.8.8"})
    assert mapped_remote.status_code == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example"])
def test_cli_refuses_a_host_other_than_loopback_without_allow_remote(served, host):
    result = CliRunner().invoke(sandbox_gateway_command, ["--port=0", f"--host={host}"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output
    assert not served


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_cli_serves_loopback_without_warning(served, host):
    result = CliRunner().invoke(sandbox_gateway_command, ["--port=0", f"--host={host}"])
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    assert len(served) == 1


def test_cli_serves_other_hosts_with_allow_remote_and_a_warning(served):
    result = CliRunner().invoke(
        sandbox_gateway_command, ["--port=0", "--host=0.0.0.0", "--allow-remote"]
    )
    assert result.exit_code == 0, result.output
    assert "Warning: the sandbox gateway listens on 0.0.0.0" in result.stderr
    (server,) = served
    assert server._server.host == "0.0.0.0"
    assert f"Messages: http://127.0.0.1:{server.port}/sandbox/messages" in result.stdout
