"""Where the sender runs: a background thread of the serving process, or ``flask worker``.

By default every process that serves the web app sends too (``flask run``, each gunicorn
worker, whether it loads ``webapp.wsgi:app`` or ``webapp:create_app()``, and any WSGI server
importing ``webapp.wsgi``), so a single-machine setup needs nothing else; campaign leases
keep them from sending the same campaign twice. With ``SENDER_IN_PROCESS = False`` the web
processes only serve, and ``flask --app webapp worker`` processes send. Other CLI commands
never send.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask.helpers import get_debug_flag

from .factory import build_gateway
from .gateway import Gateway
from .sender import Sender, SenderConfig
from .store import SqlStore

logger = logging.getLogger(__name__)

# How soon ``flask worker`` acts on a signal its handler noted.
SIGNAL_POLL_S = 0.1


def sender_config(config: Mapping[str, Any]) -> SenderConfig:
    """``SenderConfig`` with every ``SENDER_<NAME>`` the app sets."""
    given = {f.name: config.get(f"SENDER_{f.name.upper()}") for f in fields(SenderConfig)}
    return SenderConfig(**{name: value for name, value in given.items() if value is not None})


def build_sender(app: Flask) -> Sender:
    """A sender on its own database engine, building the configured gateway for each run."""

    def gateway() -> Gateway:
        with app.app_context():
            return build_gateway(app)

    return Sender(
        SqlStore.from_url(app.config["SQLALCHEMY_DATABASE_URI"]),
        gateway,
        config=sender_config(app.config),
        sender_id=app.config.get("SENDER_ID"),
    )


class SenderThread:
    """A sender running in a daemon thread of this process."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.thread = threading.Thread(target=sender.run, name="sender", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sending: calls in flight are answered and written, leases let go.

        After ``timeout`` seconds (``SENDER_STOP_TIMEOUT_S``; the database still out of
        reach, say) the sender is abandoned: what it could not write stays ``sending``, to
        become ``unknown``.
        """
        if timeout is None:
            timeout = self.sender.config.stop_timeout_s
        self.sender.stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            logger.error("sender %s: not stopped in %.0f s; giving up", self.sender.id, timeout)
            self.sender.abandon()
            return
        self.sender.store.close()


def start(app: Flask) -> SenderThread | None:
    """Send from a thread of this process, once per app, unless ``SENDER_IN_PROCESS`` is off."""
    if not app.config["SENDER_IN_PROCESS"]:
        return None
    if "sender" not in app.extensions:
        runner = SenderThread(build_sender(app))
        app.extensions["sender"] = runner
        runner.start()
        atexit.register(runner.stop)
    return app.extensions["sender"]


def serving_with_flask_run() -> bool:
    """Whether ``flask run`` serves from this process (with the reloader: only its child)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run":
        return False
    reload = ctx.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    return not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def serving_with_gunicorn() -> bool:
    """Whether gunicorn loads the app to serve it (its arbiter runs in this process)."""
    return "gunicorn.arbiter" in sys.modules


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """Send campaigns from this process until SIGTERM or Ctrl+C."""
    runner = SenderThread(build_sender(current_app._get_current_object()))
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A handler runs between two steps of this thread, which may hold any lock: it only
        # notes the signal, and this thread acts on it.
        signal.signal(signum, lambda signum, frame: signals.append(signum))
    runner.start()
    click.echo(f"Sender {runner.sender.id} running (SIGTERM or Ctrl+C to stop)")
    while not signals and runner.thread.is_alive():
        time.sleep(SIGNAL_POLL_S)
    runner.stop()


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    if serving_with_flask_run() or serving_with_gunicorn():
        start(app)
