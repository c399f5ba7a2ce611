"""The database goes away mid-campaign (connections cut, a lock held too long): every answer
the gateway gave still reaches the database, nobody is sent twice, and sending goes on soon."""

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from itertools import pairwise

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from webapp.sending.sender import Sender, SenderConfig
from webapp.sending.store import SqlStore
from webapp.sending.telefon_ip import TelefonIpClient

from .conftest import TOKEN, delivered, phones, wait_for

CONFIG = SenderConfig(flush_s=0.05, poll_s=0.05, db_retry_s=0.1, db_retry_max_s=1.0)
RESUMES_WITHIN_S = 10.0


def send_through_outages(
    store: SqlStore, server, make_campaign, read, outage: Callable[[], None]
) -> None:
    """Send 100 people at 10 a second, with ``outage()`` twice on the way; check the end."""
    numbers = phones(100)
    campaign_id = make_campaign(numbers, rate_per_minute=600)
    sender = Sender(
        store,
        lambda: TelefonIpClient(TOKEN, base_url=server.base_url, read_timeout=5),
        config=CONFIG,
        sender_id="outage-test",
    )
    run = threading.Thread(target=sender.run_campaign, args=(campaign_id,))
    run.start()
    for messages in (25, 60):
        wait_for(lambda n=messages: len(server.state.messages()) >= n, timeout=60)
        outage()
        ended = time.monotonic()
        # Sending goes on soon after the database is back.
        wait_for(lambda n=messages: len(server.state.messages()) > n + 5, timeout=30)
        assert time.monotonic() - ended < RESUMES_WITHIN_S
    run.join(60)
    assert not run.is_alive()

    campaign, recipients = read(campaign_id)
    got = delivered(server)
    assert campaign.status == "completed"
    assert got == dict.fromkeys(numbers, 1)  # each once, nobody twice
    # Every message the gateway accepted is recorded as sent, with its id.
    ids = {m.phone: m.id for m in server.state.messages()}
    assert {phone: (r.status, r.message_id) for phone, r in recipients.items()} == {
        phone: ("sent", ids[phone]) for phone in numbers
    }
    assert (campaign.count_sent, campaign.count_pending) == (100, 0)
    times = sorted(m.time for m in server.state.messages())
    assert max((b - a).total_seconds() for a, b in pairwise(times)) < RESUMES_WITHIN_S


def test_postgres_connections_cut_twice_mid_campaign(app, server, make_campaign, read):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if make_url(url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only")
    # Only this test's own connections are cut: they carry a name no other session has.
    name = f"volna-outage-{uuid.uuid4().hex[:12]}"
    store = SqlStore.from_url(url, connect_args={"application_name": name})
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    cut = []

    def terminate() -> None:
        with admin.connect() as conn:
            pids = conn.scalars(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": name},
            ).all()
        cut.append(len(pids))

    try:
        send_through_outages(store, server, make_campaign, read, terminate)
    finally:
        store.close()
        admin.dispose()
    assert len(cut) == 2 and all(cut)


def test_sqlite_locked_beyond_its_busy_timeout_mid_campaign(
    app, server, make_campaign, read, caplog
):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        pytest.skip("SQLite only")
    caplog.set_level(logging.WARNING, logger="webapp.sending")
    store = SqlStore.from_url(url.render_as_string())

    @event.listens_for(store.engine, "connect")
    def _short_busy_timeout(dbapi_connection, connection_record) -> None:
        # The app waits 30 s for a lock; a lock held longer is the case here, made quick.
        dbapi_connection.execute("PRAGMA busy_timeout=100")

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(url.database, timeout=10, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        time.sleep(2)
        other.execute("COMMIT")
        other.close()

    try:
        send_through_outages(store, server, make_campaign, read, hold_the_write_lock)
    finally:
        store.close()
    assert "database is locked" in caplog.text
