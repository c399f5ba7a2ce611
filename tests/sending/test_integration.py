"""The in-process sender of a configured app, sending through the real client over loopback HTTP
to the sandbox server, faults and all."""

import logging
from collections import Counter

import pytest

from webapp.sending import runner
from webapp.sending.sandbox import AccountState, Fault

from .conftest import TOKEN, delivered, phones, wait_for

TERMINAL = {"sent", "failed", "unknown"}


@pytest.fixture
def app_config(app_config, server):
    return {
        **app_config,
        "TELEFON_IP_TOKEN": TOKEN,
        "TELEFON_IP_BASE_URL": server.base_url,
        "TELEFON_IP_READ_TIMEOUT_S": 0.5,
        "SENDER_POLL_S": 0.05,
        "SENDER_FLUSH_S": 0.05,
        "SENDER_BACKOFF_S": 0.05,
        "SENDER_MAX_BACKOFF_S": 0.2,
    }


@pytest.fixture
def sending(app):
    """The app's own background sender, as a serving process starts it."""
    thread = runner.start(app)
    yield thread
    thread.stop()


def finished(read, campaign_id):
    return lambda: read(campaign_id)[0].status in ("completed", "paused")


def test_campaign_reaches_every_contact_exactly_once(server, make_campaign, read, sending):
    numbers = phones(40)
    campaign_id = make_campaign(numbers)

    wait_for(finished(read, campaign_id))

    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    assert server.state.attempts() == dict.fromkeys(numbers, 1)
    for message in server.state.messages():
        assert recipients[message.phone].message == message.message
        assert recipients[message.phone].message_id == message.id
    assert (campaign.count_sent, campaign.count_pending) == (40, 0)


def test_faults_end_with_every_recipient_settled_and_nothing_sent_twice(
    server, make_campaign, read, sending, caplog
):
    caplog.set_level(logging.DEBUG)
    server.state.configure(
        faults={
            Fault.SERVER_ERROR: 0.1,
            Fault.RATE_LIMITED: 0.1,
            Fault.DROP: 0.05,
            Fault.GARBAGE: 0.05,
            Fault.SLOW: 0.05,
            Fault.RECIPIENT_ERROR: 0.05,
        },
        retry_after_s=0,
        slow_s=1.0,
    )
    numbers = phones(80)
    campaign_id = make_campaign(numbers)

    wait_for(finished(read, campaign_id), timeout=30)

    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    got, attempts = delivered(server), server.state.attempts()
    for phone, recipient in recipients.items():
        assert recipient.status in TERMINAL
        assert attempts[phone] == recipient.attempts
        assert got[phone] == {"sent": 1, "failed": 0, "unknown": got[phone]}[recipient.status]
        assert got[phone] <= 1
    statuses = Counter(r.status for r in recipients.values())
    assert statuses["unknown"] and statuses["failed"] and statuses["sent"]
    assert any(r.attempts > 1 for r in recipients.values())  # transient errors were retried
    counts = (campaign.count_sent, campaign.count_failed, campaign.count_unknown)
    assert counts == (statuses["sent"], statuses["failed"], statuses["unknown"])
    assert campaign.count_pending == 0
    assert TOKEN not in caplog.text
    assert not any(TOKEN in (r.error or "") for r in recipients.values())


def test_balance_block_pauses_and_resume_finishes(
    server, make_campaign, read, update_campaign, sending
):
    server.state.configure(account=AccountState.BALANCE)
    numbers = phones(10)
    campaign_id = make_campaign(numbers)

    wait_for(finished(read, campaign_id))

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "balance")
    assert campaign.pause_detail == "Blocking a client by balance"
    assert sum(server.state.attempts().values()) == 1
    assert {(r.status, r.attempts) for r in recipients.values()} == {("pending", 0)}

    server.state.configure(account=AccountState.OK)
    update_campaign(campaign_id, status="running", pause_code=None, pause_detail=None)
    wait_for(lambda: read(campaign_id)[0].status == "completed")

    assert delivered(server) == Counter(dict.fromkeys(numbers, 1))


def test_rejected_token_pauses_after_one_call(app, server, make_campaign, read, sending, caplog):
    server.state.token = "another-token"
    campaign_id = make_campaign(phones(30))

    wait_for(finished(read, campaign_id))

    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "unauthorized")
    assert campaign.pause_detail == "Unauthorized token"
    assert sum(server.state.attempts().values()) == 1
    assert TOKEN not in caplog.text


def test_progress_is_readable_while_sending(server, make_campaign, read, sending):
    server.state.configure(latency_min_s=0.01, latency_max_s=0.02)
    campaign_id = make_campaign(phones(30), rate_per_minute=1200)

    wait_for(lambda: read(campaign_id)[0].count_sent >= 10)

    campaign, _ = read(campaign_id)
    assert campaign.status == "running"
    assert campaign.count_sent < 30
    assert campaign.count_sent + campaign.count_pending == campaign.count_total == 30
    wait_for(finished(read, campaign_id))
