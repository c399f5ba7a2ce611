"""Who starts the sender: the serving process (once, not under the reloader's watcher), never
other CLI commands; ``flask worker`` instead when ``SENDER_IN_PROCESS`` is off."""

import click
import pytest

from webapp import create_app
from webapp.sending import runner
from webapp.sending.sender import SenderConfig

from .conftest import wait_for


def in_command(name: str, **params):
    ctx = click.Context(click.Command(name), info_name=name)
    ctx.params.update(params)
    return ctx


@pytest.mark.parametrize(
    ("command", "params", "run_main", "serving"),
    [
        ("run", {"reload": False}, None, True),
        ("run", {"reload": True}, None, False),  # the reloader's watcher serves nothing
        ("run", {"reload": True}, "true", True),  # the reloader's child serves
        ("worker", {}, None, False),
        ("create-user", {}, None, False),
        ("db", {}, None, False),
    ],
)
def test_only_flask_run_serves(monkeypatch, command, params, run_main, serving):
    if run_main:
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", run_main)
    else:
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with in_command(command, **params):
        assert runner.serving_with_flask_run() is serving


def test_run_without_reload_option_follows_debug(monkeypatch):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with in_command("run", reload=None):
        assert not runner.serving_with_flask_run()
    monkeypatch.setenv("FLASK_DEBUG", "0")
    with in_command("run", reload=None):
        assert runner.serving_with_flask_run()


def test_no_sender_outside_a_command():
    assert not runner.serving_with_flask_run()


def test_create_app_starts_the_sender_under_flask_run_only(app_config, instance_path):
    with in_command("create-user"):
        assert "sender" not in create_app(app_config).extensions
    with in_command("run", reload=False):
        app = create_app(app_config)
    sender = app.extensions["sender"]
    try:
        assert sender.thread.is_alive()
        assert runner.start(app) is sender  # once per app
    finally:
        sender.stop()
    assert not sender.thread.is_alive()


def test_sender_in_process_can_be_switched_off(app_config, instance_path):
    with in_command("run", reload=False):
        app = create_app({**app_config, "SENDER_IN_PROCESS": False})
    assert "sender" not in app.extensions
    assert runner.start(app) is None
    assert "worker" in app.cli.commands


def test_sender_settings_come_from_the_config(app):
    app.config.update(SENDER_LEASE_S=2, SENDER_HEARTBEAT_S=0.5, SENDER_ID="web-1")
    assert runner.sender_config(app.config) == SenderConfig(lease_s=2, heartbeat_s=0.5)
    # Every process of a deployment reads the same SENDER_ID; their leases must still differ.
    first, second = runner.build_sender(app), runner.build_sender(app)
    assert first.id.startswith("web-1:") and second.id.startswith("web-1:")
    assert first.id != second.id


def test_in_process_sender_sends_through_the_configured_gateway(app, make_campaign, read):
    app.extensions["sandbox"].configure(latency_min_s=0, latency_max_s=0)
    app.config["SENDER_POLL_S"] = 0.05
    campaign_id = make_campaign(["79001234567"])

    sender = runner.start(app)
    try:
        wait_for(lambda: read(campaign_id)[0].status == "completed")
    finally:
        sender.stop()
    assert [m.phone for m in app.extensions["sandbox"].messages()] == ["79001234567"]
