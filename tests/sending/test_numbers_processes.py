"""Two campaigns on one WhatsApp number, sent by two processes: one pace, one daily limit."""

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from webapp.extensions import db
from webapp.models import utcnow
from webapp.numbers import WAIT_DAILY_LIMIT, WAIT_PAUSED, update_number

from .conftest import TOKEN, phones, wait_for

ROOT = Path(__file__).resolve().parents[2]
# One campaign sent to its end (or to its numbers' limit) by this process alone.
SEND_ONE = """
import sys
from webapp.sending.sender import Sender
from webapp.sending.store import SqlStore
from webapp.sending.telefon_ip import TelefonIpClient

url, base_url, token, campaign_id = sys.argv[1:]
client = TelefonIpClient(token, base_url=base_url)
Sender(SqlStore.from_url(url), lambda: client).run_campaign(int(campaign_id))
"""


@pytest.fixture
def send_in_process(app, server, tmp_path):
    processes: list[subprocess.Popen] = []

    def start(campaign_id: int) -> None:
        log = open(tmp_path / f"sender-{campaign_id}.log", "w")  # noqa: SIM115
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", SEND_ONE, url, server.base_url, TOKEN, str(campaign_id)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    yield start
    for process in processes:
        process.terminate()
        process.wait(30)


def test_two_processes_keep_one_numbers_pace_and_daily_limit(
    app, server, make_campaign, read, send_in_process
):
    # A ceiling whose interval (1 s) dwarfs a loaded machine's scheduling jitter: nothing
    # holds a process's late call back from the next slot, another process's.
    rate, limit = 60, 12

    def set_number(**values) -> None:
        with app.app_context():
            update_number(db.session.connection(), "31", values, utcnow())
            db.session.commit()

    # The number rests until both processes are up, however long each takes to start.
    set_number(rate_per_minute=rate, daily_limit=limit, paused=True)
    campaigns = [make_campaign(phones(limit, start=100 * n), app=31) for n in range(2)]
    for campaign_id in campaigns:
        send_in_process(campaign_id)
    wait_for(lambda: all(read(c)[0].waiting_reason == WAIT_PAUSED for c in campaigns), 60)
    set_number(paused=False)

    wait_for(lambda: all(read(c)[0].waiting_reason == WAIT_DAILY_LIMIT for c in campaigns), 60)
    time.sleep(1.0)  # nothing more comes

    messages = server.state.messages()
    assert len(messages) == limit
    assert {m.app for m in messages} == {31}
    # Both campaigns sent through the one number (how evenly they share it depends on how
    # busy the machine is; the gaps below show the number's pace held them both back).
    sent = [read(c)[0].count_sent for c in campaigns]
    assert sum(sent) == limit and min(sent) >= 1
    times = sorted(m.time.timestamp() for m in messages)
    smallest = min(b - a for a, b in itertools.pairwise(times))
    assert smallest >= 0.95 * 60 / rate
