"""The in-process sender of a configured app, sending through the real client over loopback HTTP
to the sandbox server, faults and all."""

import logging
from collections import Counter

import pytest

from webapp.sending import runner, telefon_ip
from webapp.sending.sandbox import UNKNOWN_APP, AccountState, Fault

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
        # Random faults that happen to come several in a row must not look like a gateway
        # that refuses everything.
        "SENDER_SAME_ERROR_CALLS": 10,
    }


@pytest.fixture
def sending(app):
    """The app's own background sender, as a serving process starts it."""
    thread = runner.start(app)
    yield thread
    thread.stop()


def finished(read, campaign_id):
    return lambda: read(campaign_id)[0].status in ("completed", "paused")


def send_with_faults(server, make_campaign, read, count: int, **settings):
    """Send ``count`` people through the sandbox set up with ``settings``, to completion.

    The campaign, its recipients by phone, what the sandbox delivered and its calls per phone.
    """
    server.state.configure(**settings)
    campaign_id = make_campaign(phones(count))
    wait_for(finished(read, campaign_id), timeout=60)
    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    return campaign, recipients, delivered(server), server.state.attempts()


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
    campaign, recipients, got, attempts = send_with_faults(
        server,
        make_campaign,
        read,
        80,
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


def test_a_proxy_504_after_delivery_is_unknown_and_a_503_is_sent_later(
    app, server, make_campaign, read, sending
):
    # No read timeouts on a busy machine: every unknown here is the proxy's 504.
    app.config["TELEFON_IP_READ_TIMEOUT_S"] = 30
    campaign, recipients, got, attempts = send_with_faults(
        server,
        make_campaign,
        read,
        150,
        faults={Fault.SENT_THEN_504: 0.12, Fault.UNAVAILABLE: 0.12},
        retry_after_s=0,
    )
    assert max(got.values()) == 1  # nobody got it twice
    unknown = [r for r in recipients.values() if r.status == "unknown"]
    # Each unknown is a message the gateway sent before the proxy's 504: never sent again.
    assert unknown and all(got[r.phone] == 1 for r in unknown)
    assert all("HTTP 504" in r.error and "<" not in r.error for r in unknown)
    # Each 503 said nothing was sent: it was sent later, once (or met a 504 then).
    retried = [r for r in recipients.values() if r.attempts > 1]
    assert all(got[r.phone] == 1 for r in retried)
    assert any(r.status == "sent" for r in retried)
    assert {r.status for r in recipients.values()} == {"sent", "unknown"}
    assert all(attempts[phone] == r.attempts for phone, r in recipients.items())
    assert sum(got.values()) == 150
    assert (campaign.count_sent, campaign.count_unknown) == (150 - len(unknown), len(unknown))


def test_a_wrong_gateway_address_pauses_without_failing_anyone(
    app, server, make_campaign, read, sending
):
    app.config["TELEFON_IP_BASE_URL"] = server.base_url.replace("/whatsapp", "/wrong/whatsapp")
    campaign_id = make_campaign(phones(30))

    wait_for(finished(read, campaign_id))

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "gateway_error")
    assert campaign.pause_detail == telefon_ip.NOT_FOUND
    assert {(r.status, r.attempts) for r in recipients.values()} == {("pending", 0)}
    assert server.state.attempts() == {}


def test_an_app_the_account_does_not_have_pauses_after_a_few_calls(
    app, server, make_campaign, read
):
    server.state.configure(apps=[1, 2])
    app.config["SENDER_SAME_ERROR_CALLS"] = 5
    campaign_id = make_campaign(phones(40), app=7, rate_per_minute=600)
    sender = runner.start(app)
    try:
        wait_for(finished(read, campaign_id))
    finally:
        sender.stop()

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "gateway_error")
    assert campaign.pause_detail == UNKNOWN_APP
    statuses = Counter(r.status for r in recipients.values())
    assert 5 <= statuses["failed"] <= 8  # the calls it took to see it, not the list
    assert statuses["failed"] + statuses["pending"] == 40
    assert delivered(server) == Counter()


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
