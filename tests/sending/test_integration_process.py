"""Real ``flask --app webapp worker`` processes on one database: killed with SIGKILL mid-campaign,
restarted, or two at once; nobody is sent twice and nobody is lost."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .conftest import TOKEN, delivered, phones, wait_for

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"sent", "failed", "unknown"}


@pytest.fixture
def start_worker(app, server, tmp_path):
    """``start_worker()``: a worker process on the test database and the sandbox server."""
    processes: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_TELEFON_IP_TOKEN": TOKEN,
        "FLASK_TELEFON_IP_BASE_URL": server.base_url,
        "FLASK_TELEFON_IP_READ_TIMEOUT_S": "5",
        "FLASK_SENDER_IN_PROCESS": "false",
        # A dead worker's lease is taken over within 2 s instead of 20.
        "FLASK_SENDER_LEASE_S": "2",
        "FLASK_SENDER_HEARTBEAT_S": "0.5",
        "FLASK_SENDER_POLL_S": "0.1",
    }

    def start(**settings: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "webapp", "worker"],
            cwd=ROOT,
            env={**env, **{f"FLASK_{name}": value for name, value in settings.items()}},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
        process.wait(30)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def assert_each_sent_at_most_once(server, read, campaign_id: int) -> dict[str, int]:
    """Every recipient settled, each phone messaged at most once; the statuses counted."""
    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    got = delivered(server)
    for phone, recipient in recipients.items():
        assert recipient.status in TERMINAL
        # sent: the gateway has it once; unknown (a call cut by the kill): once or never.
        assert got[phone] == {"sent": 1, "failed": 0, "unknown": got[phone]}[recipient.status]
        assert got[phone] <= 1
    statuses = [r.status for r in recipients.values()]
    counts = {status: statuses.count(status) for status in TERMINAL}
    assert (campaign.count_sent, campaign.count_failed, campaign.count_unknown) == (
        counts["sent"],
        counts["failed"],
        counts["unknown"],
    )
    assert campaign.count_pending == 0
    return counts


def test_a_killed_worker_is_restarted_and_goes_on_without_duplicates(
    server, make_campaign, read, start_worker
):
    server.state.configure(latency_min_s=0.05, latency_max_s=0.15)
    numbers = phones(150)
    campaign_id = make_campaign(numbers, rate_per_minute=3000)

    worker = start_worker()
    wait_for(lambda: read(campaign_id)[0].count_sent >= 40, timeout=30)
    kill(worker)
    _, at_kill = read(campaign_id)
    in_flight = [p for p, r in at_kill.items() if r.status == "sending"]
    start_worker()
    wait_for(lambda: read(campaign_id)[0].status == "completed", timeout=30)

    counts = assert_each_sent_at_most_once(server, read, campaign_id)
    assert sum(counts.values()) == len(numbers)  # nobody lost
    _, recipients = read(campaign_id)
    assert all(recipients[phone].status == "unknown" for phone in in_flight)
    assert counts["unknown"] <= len(in_flight) + 1  # only what was in flight at the kill


def test_two_workers_never_send_twice_and_one_takes_over_from_the_other(
    server, make_campaign, read, start_worker
):
    server.state.configure(latency_min_s=0.02, latency_max_s=0.05)
    campaign_ids = [
        make_campaign(phones(80, start=1000 * n), rate_per_minute=2400) for n in range(3)
    ]
    start_worker()
    start_worker()

    def leased() -> list[str]:
        return [read(c)[0].lease_owner for c in campaign_ids if read(c)[0].lease_owner]

    wait_for(lambda: read(campaign_ids[0])[0].count_sent >= 20, timeout=30)
    owner = leased()[0]
    pid = int(owner.split(":")[1])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: all(read(c)[0].status == "completed" for c in campaign_ids), timeout=40)

    for campaign_id in campaign_ids:
        counts = assert_each_sent_at_most_once(server, read, campaign_id)
        assert sum(counts.values()) == 80


@contextmanager
def database_held(url: str, campaign_id: int) -> Iterator[None]:
    """Keep every write to the campaign waiting: its row locked (PostgreSQL), or the whole
    database (SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        holder = sqlite3.connect(parsed.database, timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE"), {"id": campaign_id}
            )
            yield
    finally:
        engine.dispose()


def test_sigterm_while_the_database_keeps_a_claim_waiting_stops_the_worker_in_time(
    app, server, make_campaign, read, start_worker
):
    numbers = phones(150)
    campaign_id = make_campaign(numbers, rate_per_minute=1200)
    worker = start_worker(SENDER_STOP_TIMEOUT_S="3")
    wait_for(lambda: read(campaign_id)[0].count_sent >= 5, timeout=30)

    with database_held(app.config["SQLALCHEMY_DATABASE_URI"], campaign_id):
        time.sleep(1.0)  # calls already claimed are made; the next claim waits
        sent = len(server.state.messages())
        time.sleep(0.5)
        assert len(server.state.messages()) == sent
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert time.monotonic() - signalled < 3 + 10  # its stop timeout, and starting up

    # The campaign goes on with the next worker, nobody twice.
    start_worker()
    wait_for(lambda: read(campaign_id)[0].status == "completed", timeout=90)
    counts = assert_each_sent_at_most_once(server, read, campaign_id)
    assert sum(counts.values()) == len(numbers)
