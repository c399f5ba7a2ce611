"""WhatsApp numbers in the sender: warm-up, rotation by room, paused numbers, waiting."""

import itertools
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from webapp.extensions import db
from webapp.numbers import WAIT_DAILY_LIMIT, WAIT_PAUSED, list_numbers, update_number
from webapp.sending.gateway import Outcome, SendResult
from webapp.sending.sandbox import SandboxGateway
from webapp.sending.sender import SystemClock

from .conftest import FAST, ScriptedGateway, phones, wait_for

# Waiting days of fake time is quick with a heartbeat of fake minutes.
PATIENT = replace(FAST, max_in_flight=1, heartbeat_s=600, lease_s=1800)
DAY = 24 * 3600
MIDNIGHT = 12 * 3600  # the fake clock starts at noon, Moscow time


@pytest.fixture
def set_number(app, clock):
    def set_number(key: str, **values) -> None:
        with app.app_context():
            update_number(db.session.connection(), key, values, clock.now())
            db.session.commit()

    return set_number


def sent(phone: str, n: int) -> SendResult:
    return SendResult(Outcome.SENT, message_id=f"id-{phone}-{n}", gateway_status="1")


def days_of(calls) -> Counter:
    """Calls per day of the number's time zone, 0 for the first (afternoon) one."""
    return Counter(0 if c.at < MIDNIGHT else 1 + int((c.at - MIDNIGHT) // DAY) for c in calls)


def test_warmup_raises_the_numbers_limit_day_by_day(make_campaign, make_sender, clock, set_number):
    set_number("31", daily_limit=10, warmup={"start": 2, "growth_percent": 100})
    campaign_id = make_campaign(phones(16), app=31)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert days_of(gateway.calls) == {0: 2, 1: 4, 2: 8, 3: 2}


def test_rotation_fills_each_number_to_its_own_limit_then_waits(
    make_campaign, make_sender, clock, set_number, read
):
    for app, limit in ((1, 2), (2, 3), (3, 4)):
        set_number(str(app), daily_limit=limit)
    campaign_id = make_campaign(phones(10), app=[1, 2, 3])
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    today = [c for c in gateway.calls if c.at < MIDNIGHT]
    assert Counter(c.app for c in today) == {1: 2, 2: 3, 3: 4}
    assert [c.at >= MIDNIGHT for c in gateway.calls] == [False] * 9 + [True]
    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.count_sent) == ("completed", 10)
    assert campaign.waiting_reason is None


def test_a_paused_number_gets_nothing(make_campaign, make_sender, clock, set_number, read):
    set_number("1", paused=True)
    campaign_id = make_campaign(phones(6), app=[1, 2])
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert [c.app for c in gateway.calls] == [2] * 6
    assert read(campaign_id)[0].status == "completed"


def test_a_campaign_whose_numbers_are_all_paused_waits_and_says_why(
    app, make_campaign, make_sender, clock, set_number, read
):
    set_number("1", paused=True)
    campaign_id = make_campaign(phones(3), app=1)
    gateway = ScriptedGateway(clock)
    sender = make_sender(gateway)
    sender.tick()

    wait_for(lambda: read(campaign_id)[0].waiting_reason == WAIT_PAUSED)
    assert gateway.calls == []
    set_number("1", paused=False)
    wait_for(lambda: read(campaign_id)[0].status == "completed")
    sender.stop()
    assert len(gateway.calls) == 3
    assert read(campaign_id)[0].waiting_reason is None


def test_a_number_at_its_limit_makes_the_campaign_wait_until_midnight(
    make_campaign, make_sender, clock, set_number, read, store
):
    set_number("default", daily_limit=2)
    first = make_campaign(phones(2))
    make_sender(ScriptedGateway(clock)).run_campaign(first)
    second = make_campaign(phones(2, start=100))
    midnight = clock.start + timedelta(seconds=MIDNIGHT)

    assert store.take_lease(second, "me", clock.now(), 60) is not None
    assert store.claim(second, "me", 5, clock.now(), 60) == []

    campaign = read(second)[0]
    assert (campaign.waiting_reason, campaign.waiting_until) == (WAIT_DAILY_LIMIT, midnight)
    assert store.next_retry_at(second) == midnight
    assert [c.phone for c in store.claim(second, "me", 5, midnight, 60)] == phones(2, start=100)
    assert read(second)[0].waiting_reason is None


def test_the_stricter_of_the_numbers_and_the_campaigns_pace_wins(
    make_campaign, make_sender, clock, set_number
):
    set_number("7", rate_per_minute=30)
    slow = make_campaign(phones(4), app=7, rate_per_minute=60)
    gateway = ScriptedGateway(clock)
    make_sender(gateway, config=PATIENT).run_campaign(slow)
    starts = [c.at for c in gateway.calls]
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [2.0, 2.0, 2.0]

    slower = make_campaign(phones(3, start=50), app=7, rate_per_minute=10)
    gateway = ScriptedGateway(clock)
    make_sender(gateway, config=PATIENT).run_campaign(slower)
    starts = [c.at for c in gateway.calls]
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [6.0, 6.0]


def test_a_number_refused_the_same_way_again_and_again_is_paused_with_the_reason(
    app, make_campaign, make_sender, clock, read
):
    not_linked = SendResult(Outcome.RECIPIENT_ERROR, error="Application not found", http_status=400)
    campaign_id = make_campaign(phones(20), app=[1, 2])
    calls = []

    def answer(phone, n):
        app_of_call = gateway.calls[-1].app
        calls.append(app_of_call)
        return not_linked if app_of_call == 1 else sent(phone, n)

    gateway = ScriptedGateway(clock, answer=answer)
    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert calls.count(1) == FAST.same_error_calls
    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.count_sent) == ("completed", 20 - calls.count(1))
    assert campaign.count_failed == calls.count(1)  # refused, with the gateway's words
    with app.app_context():
        (number,) = [n for n in list_numbers(db.session.connection(), clock.now()) if n["app"] == 1]
    assert (number["paused"], number["pause_reason"]) == (True, "Application not found")


def test_a_campaigns_only_number_refused_again_and_again_is_paused_with_the_campaign(
    app, make_campaign, make_sender, clock, read
):
    not_linked = SendResult(Outcome.RECIPIENT_ERROR, error="Application not found", http_status=400)
    campaign_id = make_campaign(phones(20), app=5)
    gateway = ScriptedGateway(clock, answer=lambda phone, n: not_linked)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert len(gateway.calls) == FAST.same_error_calls
    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "gateway_error")
    with app.app_context():
        (number,) = [n for n in list_numbers(db.session.connection(), clock.now()) if n["app"] == 5]
    assert (number["paused"], number["pause_reason"]) == (True, "Application not found")


def test_a_campaign_without_a_pace_keeps_a_fast_number_busy(
    make_campaign, make_sender, clock, set_number
):
    # A claim takes the number's slots a claim lead ahead at least: the next claim must come
    # before those run out, or the number sits idle a lead after every few calls. Only the
    # first claim's slots leave a gap behind them, less than a lead.
    set_number("7", rate_per_minute=1200)
    campaign_id = make_campaign(phones(40), app=7)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    starts = [c.at for c in gateway.calls]
    assert len(starts) == 40
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.05 - 1e-6
    assert starts[-1] - starts[0] <= 39 * 0.05 + PATIENT.claim_lead_s


def test_calls_from_one_number_keep_their_distance_as_they_leave(
    make_campaign, make_sender, sandbox, set_number, read
):
    # A worker held up between its slot and its call (a busy CPU) must not bring its call
    # close to the next one, another campaign's: the number's gate times calls as they leave.
    set_number("7", rate_per_minute=600)
    campaigns = [make_campaign(phones(8, start=100 * n), app=7) for n in range(2)]
    inner = SandboxGateway(sandbox)
    calls = itertools.count()

    class Dawdling:
        def send_message(self, phone, message, app=None, *, turn=None):
            if next(calls) % 3 == 0:
                time.sleep(0.07)
            return inner.send_message(phone, message, app, turn=turn)

        def close(self):
            pass

    sender = make_sender(Dawdling(), clock=SystemClock())
    thread = threading.Thread(target=sender.run)
    thread.start()
    try:
        wait_for(lambda: all(read(c)[0].status == "completed" for c in campaigns), timeout=30)
    finally:
        sender.stop()
        thread.join()

    times = sorted(m.time.timestamp() for m in sandbox.messages())
    assert len(times) == 16
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.95 * 0.1
