"""The sender engine on the real store, a clock the test moves, and scripted gateway answers."""

import itertools
import json
import math
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from webapp.campaigns.options import parse_options
from webapp.campaigns.rendering import render_seed
from webapp.extensions import db
from webapp.messages import MessageTemplate
from webapp.models import Recipient
from webapp.sending import sender as sender_module
from webapp.sending.gateway import Outcome, SendResult
from webapp.sending.sender import (
    INTERRUPTED,
    NOT_RENDERED,
    SenderConfig,
    StoreUnavailable,
    pool_size,
)

from .conftest import FAST, PHONE_COLUMN, TEMPLATE, ScriptedGateway, phones, wait_for

ONE_AT_A_TIME = replace(FAST, max_in_flight=1)
# Waiting hours of fake time is quick with a heartbeat of fake minutes.
PATIENT = replace(ONE_AT_A_TIME, heartbeat_s=600, lease_s=1800)
BALANCE = SendResult(
    Outcome.ACCOUNT_ERROR,
    error="Blocking a client by balance",
    http_status=400,
    account_problem="balance",
)
UNAUTHORIZED = SendResult(
    Outcome.ACCOUNT_ERROR,
    error="Unauthorized token",
    http_status=401,
    account_problem="unauthorized",
)
REFUSED = SendResult(Outcome.RECIPIENT_ERROR, error="Not on WhatsApp", http_status=400)
UNAVAILABLE = SendResult(Outcome.TRANSIENT, error="The gateway is temporarily unavailable")
NO_ANSWER = SendResult(Outcome.AMBIGUOUS, error="No answer from the gateway in time")


def sent(phone: str, n: int) -> SendResult:
    return SendResult(Outcome.SENT, message_id=f"id-{phone}-{n}", gateway_status="1")


def gaps(calls) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(calls)]


def test_every_recipient_gets_its_own_message_once(make_campaign, make_sender, read):
    numbers = phones(12)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway()

    assert make_sender(gateway).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert sorted(c.phone for c in gateway.calls) == numbers
    template = MessageTemplate.parse(TEMPLATE, [PHONE_COLUMN, "Имя"])
    for row, phone in enumerate(numbers, start=2):
        recipient = recipients[phone]
        fields = {"Имя": f"Клиент {row}", PHONE_COLUMN: phone}
        expected = template.render(fields, render_seed(campaign_id, phone)).text
        assert recipient.message == expected == f"{expected.split(',')[0]}, Клиент {row}!"
        assert (recipient.status, recipient.attempts) == ("sent", 1)
        assert recipient.message_id == f"id-{phone}-1"
        assert recipient.gateway_status == "1"
        assert recipient.sent_at is not None
    assert {c.message for c in gateway.calls} == {r.message for r in recipients.values()}
    assert len({r.message.split(",")[0] for r in recipients.values()}) == 2  # variants vary
    assert campaign.status == "completed"
    assert campaign.finished_at is not None
    assert (campaign.count_sent, campaign.count_pending, campaign.count_total) == (12, 0, 12)
    assert campaign.lease_owner is None
    assert gateway.closed


def test_calls_are_spaced_by_the_rate(make_campaign, make_sender, clock):
    campaign_id = make_campaign(phones(10), rate_per_minute=120)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    assert len(gateway.calls) == 10
    assert min(gaps(gateway.calls)) >= 0.5
    assert max(gaps(gateway.calls)) < 0.5 + 1e-6  # evenly, no catching up in bursts


def test_random_delays_stay_between_their_bounds(make_campaign, make_sender, clock):
    campaign_id = make_campaign(phones(12), rate_per_minute=60, delay_min_s=2, delay_max_s=5)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    spacing = gaps(gateway.calls)
    assert len(spacing) == 11
    assert all(2 <= gap <= 5 + 1e-6 for gap in spacing)
    assert len({round(gap, 3) for gap in spacing}) > 5


@pytest.mark.parametrize(("rate", "size"), [(20, 2), (1200, 7), (100_000, 16), (None, 16)])
def test_pool_is_sized_from_rate_and_latency(rate, size):
    config = SenderConfig(expected_latency_s=0.3, max_in_flight=16)
    assert pool_size(parse_options({"rate_per_minute": rate}, {}), config) == size


def test_sending_waits_for_the_window_and_restarts_pacing(make_campaign, make_sender, clock):
    # The clock starts at 12:00 Moscow time; the window opens at 13:00.
    window = {"start": "13:00", "end": "21:00", "timezone": "Europe/Moscow"}
    campaign_id = make_campaign(phones(3), rate_per_minute=60, send_window=window)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert [round(c.at, 3) for c in gateway.calls] == [3600, 3601, 3602]


def test_daily_limit_rotates_apps_and_waits_for_the_next_day(
    make_campaign, make_sender, clock, read
):
    campaign_id = make_campaign(phones(6), app=[1, 2], daily_limit=2)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(campaign_id)

    assert [c.app for c in gateway.calls] == [1, 2, 1, 2, 1, 2]
    midnight = 12 * 3600  # the clock starts at noon, Moscow time
    # (a call's time is read in its worker thread, maybe after the wait for midnight began)
    assert all(c.at < midnight for c in gateway.calls[:4])
    assert all(midnight <= c.at < midnight + 1 for c in gateway.calls[4:])
    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    assert sorted(r.app for r in recipients.values()) == [1, 1, 1, 2, 2, 2]


def test_daily_limit_counts_what_other_campaigns_sent_today(make_campaign, make_sender, clock):
    first = make_campaign(phones(2), app=5, daily_limit=3)
    make_sender(ScriptedGateway(clock)).run_campaign(first)
    second = make_campaign(phones(3, start=100), app=5, daily_limit=3)
    gateway = ScriptedGateway(clock)

    make_sender(gateway, config=PATIENT).run_campaign(second)

    assert gateway.calls[0].at < 12 * 3600
    assert all(c.at >= 12 * 3600 for c in gateway.calls[1:])


def test_refused_recipient_fails_with_the_gateways_words(make_campaign, make_sender, read):
    numbers = phones(4)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway(answer=lambda p, n: REFUSED if p == numbers[1] else sent(p, n))

    make_sender(gateway).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    refused = recipients[numbers[1]]
    assert (refused.status, refused.error, refused.attempts) == ("failed", "Not on WhatsApp", 1)
    assert refused.message  # the text that was tried is kept
    assert gateway.count(numbers[1]) == 1
    assert (campaign.status, campaign.count_sent, campaign.count_failed) == ("completed", 3, 1)


def test_transient_errors_are_retried_with_growing_backoff(make_campaign, make_sender, clock, read):
    numbers = phones(2)
    campaign_id = make_campaign(numbers)
    flaky = numbers[0]
    gateway = ScriptedGateway(
        clock, answer=lambda p, n: UNAVAILABLE if p == flaky and n <= 3 else sent(p, n)
    )

    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    tries = [c.at for c in gateway.calls if c.phone == flaky]
    waits = [b - a for a, b in itertools.pairwise(tries)]
    assert len(tries) == 4
    for attempt, wait in enumerate(waits, start=1):
        backoff = FAST.backoff_s * 2 ** (attempt - 1)
        assert backoff <= wait <= backoff * 1.5 + 1
    campaign, recipients = read(campaign_id)
    assert (recipients[flaky].status, recipients[flaky].attempts) == ("sent", 4)
    assert campaign.status == "completed"


def test_retry_after_is_honoured(make_campaign, make_sender, clock):
    numbers = phones(2)
    campaign_id = make_campaign(numbers)
    slow_down = replace(UNAVAILABLE, http_status=429, retry_after=90)
    gateway = ScriptedGateway(
        clock, answer=lambda p, n: slow_down if n == 1 and p == numbers[0] else sent(p, n)
    )
    config = replace(ONE_AT_A_TIME, backoff_s=1)

    make_sender(gateway, config=config).run_campaign(campaign_id)

    first, *later = gateway.calls
    assert first.phone == numbers[0]
    assert all(c.at - first.at >= 90 for c in later)  # nobody is sent meanwhile


def test_transient_errors_fail_the_recipient_after_the_last_attempt(
    make_campaign, make_sender, read
):
    numbers = phones(2)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway(answer=lambda p, n: UNAVAILABLE if p == numbers[0] else sent(p, n))

    make_sender(gateway).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert gateway.count(numbers[0]) == FAST.max_attempts
    failed = recipients[numbers[0]]
    assert (failed.status, failed.attempts) == ("failed", FAST.max_attempts)
    assert failed.error == UNAVAILABLE.error
    assert (campaign.status, campaign.count_failed, campaign.count_sent) == ("completed", 1, 1)


def test_ambiguous_answer_is_unknown_and_never_sent_again(make_campaign, make_sender, read):
    numbers = phones(3)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway(answer=lambda p, n: NO_ANSWER if p == numbers[2] else sent(p, n))

    make_sender(gateway).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert gateway.count(numbers[2]) == 1
    assert (recipients[numbers[2]].status, recipients[numbers[2]].error) == (
        "unknown",
        NO_ANSWER.error,
    )
    assert (campaign.status, campaign.count_unknown, campaign.count_pending) == ("completed", 1, 0)


def test_balance_block_pauses_at_once_and_resume_finishes(
    make_campaign, make_sender, read, update_campaign
):
    numbers = phones(6)
    campaign_id = make_campaign(numbers, rate_per_minute=600)
    blocked = {"on": True}
    gateway = ScriptedGateway(
        answer=lambda p, n: BALANCE if blocked["on"] and p == numbers[2] else sent(p, n)
    )

    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "balance")
    assert campaign.pause_detail == "Blocking a client by balance"
    assert len(gateway.calls) == 3
    assert (recipients[numbers[2]].status, recipients[numbers[2]].attempts) == ("pending", 0)
    assert [r.status for r in recipients.values()].count("pending") == 4
    assert campaign.count_pending == 4
    assert campaign.lease_owner is None

    blocked["on"] = False
    update_campaign(campaign_id, status="running", pause_code=None, pause_detail=None)
    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert campaign.status == "completed"
    assert {r.status for r in recipients.values()} == {"sent"}
    assert recipients[numbers[2]].attempts == 1
    assert sorted(c.phone for c in gateway.calls if c.phone != numbers[2]) == sorted(
        numbers[:2] + numbers[3:]
    )


def test_unauthorized_pauses_after_one_call_even_with_a_wide_pool(make_campaign, make_sender, read):
    campaign_id = make_campaign(phones(40))
    gateway = ScriptedGateway(answer=lambda p, n: UNAUTHORIZED)

    make_sender(gateway, config=replace(FAST, max_in_flight=16)).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert len(gateway.calls) == 1
    assert (campaign.status, campaign.pause_code) == ("paused", "unauthorized")
    assert campaign.pause_detail == "Unauthorized token"
    assert {r.status for r in recipients.values()} == {"pending"}
    assert {r.attempts for r in recipients.values()} == {0}


def test_a_gateway_down_for_two_minutes_pauses_the_campaign(
    make_campaign, make_sender, clock, read
):
    campaign_id = make_campaign(phones(30), rate_per_minute=30)
    gateway = ScriptedGateway(clock, answer=lambda p, n: UNAVAILABLE)
    config = replace(ONE_AT_A_TIME, backoff_s=5, max_attempts=100)

    make_sender(gateway, config=config).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "gateway_unavailable")
    assert campaign.pause_detail == UNAVAILABLE.error
    assert len(gateway.calls) >= FAST.down_after_calls
    assert gateway.calls[-1].at >= FAST.down_after_s
    assert {r.status for r in recipients.values()} == {"pending"}


def test_a_gateway_failing_one_call_in_five_never_trips(make_campaign, make_sender, clock, read):
    campaign_id = make_campaign(phones(150), rate_per_minute=30)
    count = iter(range(1_000_000))
    gateway = ScriptedGateway(
        clock, answer=lambda p, n: UNAVAILABLE if next(count) % 5 == 4 else sent(p, n)
    )

    make_sender(gateway, config=replace(ONE_AT_A_TIME, backoff_s=1)).run_campaign(campaign_id)

    campaign, _ = read(campaign_id)
    assert gateway.calls[-1].at > 5 * 60
    assert (campaign.status, campaign.count_sent) == ("completed", 150)


def test_pausing_stops_claiming_at_once(make_campaign, make_sender, read, update_campaign):
    numbers = phones(20)
    campaign_id = make_campaign(numbers, rate_per_minute=60)

    def answer(phone, n):
        if phone == numbers[2]:
            update_campaign(campaign_id, status="paused", pause_code="user")
        return sent(phone, n)

    gateway = ScriptedGateway(answer=answer)
    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert len(gateway.calls) == 3
    assert (campaign.status, campaign.count_sent, campaign.count_pending) == ("paused", 3, 17)
    assert [r.status for r in recipients.values()].count("sending") == 0
    assert campaign.lease_owner is None


def test_stopping_the_sender_gives_back_what_was_claimed(make_campaign, make_sender, read):
    campaign_id = make_campaign(phones(50))
    holder = {}

    def answer(phone, n):
        if len(gateway.calls) == 5:
            holder["sender"].stop()
        return sent(phone, n)

    gateway = ScriptedGateway(answer=answer)
    holder["sender"] = sender = make_sender(gateway)
    sender.run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    statuses = [r.status for r in recipients.values()]
    assert statuses.count("sent") == len(gateway.calls) < 50
    assert statuses.count("pending") == 50 - len(gateway.calls)
    assert all(r.attempts == 0 for r in recipients.values() if r.status == "pending")
    assert (campaign.status, campaign.lease_owner) == ("running", None)


def test_a_live_lease_of_another_sender_is_respected(make_campaign, make_sender, update_campaign):
    campaign_id = make_campaign(phones(3))
    update_campaign(
        campaign_id,
        lease_owner="elsewhere/1",
        lease_expires_at=datetime.now(UTC) + timedelta(seconds=30),
    )
    gateway = ScriptedGateway()

    assert not make_sender(gateway).run_campaign(campaign_id)
    assert gateway.calls == []


def test_an_expired_lease_is_taken_over_and_its_sends_become_unknown(
    app, make_campaign, make_sender, read, update_campaign
):
    numbers = phones(4)
    campaign_id = make_campaign(numbers)
    update_campaign(
        campaign_id,
        lease_owner="dead/1",
        lease_expires_at=datetime(2026, 12, 1, 8, 59, 50, tzinfo=UTC),
    )
    with app.app_context():
        db.session.query(Recipient).filter(Recipient.phone == numbers[0]).update(
            {"status": "sending", "claimed_by": "dead/1", "attempts": 1}
        )
        db.session.commit()
    gateway = ScriptedGateway()

    assert make_sender(gateway).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert sorted(c.phone for c in gateway.calls) == numbers[1:]
    assert (recipients[numbers[0]].status, recipients[numbers[0]].error) == ("unknown", INTERRUPTED)
    assert (campaign.status, campaign.count_sent, campaign.count_unknown) == ("completed", 3, 1)


def test_scheduled_campaign_starts_when_its_time_comes(make_campaign, make_sender, clock, read):
    start_at = (clock.now() + timedelta(minutes=5)).isoformat()
    campaign_id = make_campaign(phones(2), status="scheduled", start_at=start_at)
    gateway = ScriptedGateway()
    sender = make_sender(gateway)

    sender.tick()
    assert read(campaign_id)[0].status == "scheduled"

    clock.elapsed += 301
    sender.tick()
    wait_for(lambda: read(campaign_id)[0].status == "completed")
    sender.stop()
    sender.run()  # returns at once, once the run the tick started is over

    assert len(gateway.calls) == 2


def test_a_template_that_no_longer_fits_its_list_waits_until_fixed(
    make_campaign, make_sender, clock, read, update_campaign, caplog
):
    campaign_id = make_campaign(phones(2))
    update_campaign(campaign_id, template="{{ Город }}")  # a column the list does not have
    gateway = ScriptedGateway()
    sender = make_sender(gateway)

    sender.tick()

    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.lease_owner, gateway.calls) == ("running", None, [])
    assert f"campaign {campaign_id}: cannot start sending" in caplog.text
    update_campaign(campaign_id, template=TEMPLATE)
    clock.elapsed += FAST.crash_cooldown_s
    sender.tick()
    wait_for(lambda: read(campaign_id)[0].status == "completed")
    sender.stop()
    sender.run()
    assert len(gateway.calls) == 2


def test_a_gateway_that_raises_leaves_the_recipient_unknown(make_campaign, make_sender, read):
    numbers = phones(2)
    campaign_id = make_campaign(numbers)

    def answer(phone, n):
        if phone == numbers[0]:
            raise RuntimeError("boom")
        return sent(phone, n)

    make_sender(ScriptedGateway(answer=answer)).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert recipients[numbers[0]].status == "unknown"
    assert campaign.status == "completed"


def test_recipient_without_a_contact_is_rendered_from_the_phone(
    app, make_campaign, make_sender, read
):
    campaign_id = make_campaign(phones(1), template="Номер {{ Телефон }}, {{ Имя | друг }}")
    with app.app_context():
        db.session.query(Recipient).update({"contact_id": None})
        db.session.commit()

    make_sender(ScriptedGateway()).run_campaign(campaign_id)

    _, recipients = read(campaign_id)
    assert recipients[phones(1)[0]].message == f"Номер {phones(1)[0]}, друг"


@pytest.mark.parametrize("workers", [1, 8])
def test_many_in_flight_still_send_each_once(make_campaign, make_sender, read, workers):
    numbers = phones(300)
    campaign_id = make_campaign(numbers)
    lock = threading.Lock()
    gateway = ScriptedGateway()
    unsafe_send = gateway.send_message

    def send_message(phone, message, app=None, *, turn=None):
        with lock:
            return unsafe_send(phone, message, app, turn=turn)

    gateway.send_message = send_message
    make_sender(gateway, config=replace(FAST, max_in_flight=workers, max_batch=40)).run_campaign(
        campaign_id
    )

    campaign, recipients = read(campaign_id)
    assert sorted(c.phone for c in gateway.calls) == numbers
    assert (campaign.status, campaign.count_sent) == ("completed", 300)
    assert json.dumps(sorted({r.status for r in recipients.values()})) == '["sent"]'


# Faults inside the sender: nothing wedges a run, nothing once answered is lost


class FlakyStore:
    """The real store, but a method raises ``error`` whenever ``broken(name)`` says so."""

    def __init__(self, store, error: Exception, broken) -> None:
        self._store = store
        self._error = error
        self._broken = broken

    def __getattr__(self, name):
        method = getattr(self._store, name)

        def call(*args, **kwargs):
            if self._broken(name):
                raise self._error
            return method(*args, **kwargs)

        return call


def failing_first(**counts: int):
    """``broken`` for ``FlakyStore``: the first ``counts[name]`` calls of each method fail."""
    left = Counter(counts)

    def broken(name: str) -> bool:
        if left[name] > 0:
            left[name] -= 1
            return True
        return False

    return broken


@pytest.fixture
def flaky_sender(make_sender, store):
    """``flaky_sender(gateway, broken, error)``: a sender on a ``FlakyStore``."""

    def make(gateway, broken, error: Exception | None = None, **kw):
        sender = make_sender(gateway, **kw)
        sender.store = FlakyStore(store, error or StoreUnavailable("connection lost"), broken)
        return sender

    return make


def test_answers_are_written_once_the_database_takes_them_again(make_campaign, flaky_sender, read):
    numbers = phones(20)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway()

    flaky_sender(gateway, failing_first(record=6, claim=2, complete=2)).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert sorted(c.phone for c in gateway.calls) == numbers
    assert {r.status for r in recipients.values()} == {"sent"}
    assert (campaign.status, campaign.count_sent) == ("completed", 20)


def test_a_database_hiccup_while_taking_a_lease_costs_one_poll_only(
    make_campaign, flaky_sender, read
):
    campaign_id = make_campaign(phones(2))
    sender = flaky_sender(ScriptedGateway(), failing_first(take_lease=1))

    with pytest.raises(StoreUnavailable):
        sender.tick()
    sender.tick()  # the next poll

    wait_for(lambda: read(campaign_id)[0].status == "completed")
    sender.stop()
    sender.run()  # returns once the run the tick started is over


def test_a_sender_given_up_on_during_a_long_outage_leaves_no_thread_behind(
    make_campaign, make_sender, flaky_sender, read
):
    numbers = phones(6)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway()
    sender = flaky_sender(gateway, lambda name: name == "record")
    gave_up = []

    def send():
        try:
            sender.run_campaign(campaign_id)
        except StoreUnavailable as exc:
            gave_up.append(exc)

    run = threading.Thread(target=send)
    run.start()
    wait_for(lambda: len(gateway.calls) == len(numbers))

    sender.abandon()  # the process exits while the database is still away

    run.join(10)
    assert not run.is_alive() and gave_up
    assert not [t for t in threading.enumerate() if t.name == f"send-{campaign_id}"]
    # What was never written is never sent again: the next sender finds it unknown.
    make_sender(gateway).run_campaign(campaign_id)
    campaign, recipients = read(campaign_id)
    assert {r.status for r in recipients.values()} == {"unknown"}
    assert len(gateway.calls) == len(numbers)
    assert campaign.status == "completed"


def run_briefly(target, *args) -> BaseException | None:
    """Run ``target`` in a thread that must end within 30 s; what it raised, if anything."""
    raised = []

    def run():
        try:
            target(*args)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the run hangs"
    return raised[0] if raised else None


def test_a_run_that_cannot_go_on_ends_and_the_campaign_can_go_on_later(
    make_campaign, make_sender, flaky_sender, read
):
    numbers = phones(10)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway()
    sender = flaky_sender(
        gateway,
        lambda name: name == "claim" and len(gateway.calls) >= 3,
        RuntimeError("a bug"),
        config=replace(ONE_AT_A_TIME, max_batch=1),
    )

    assert isinstance(run_briefly(sender.run_campaign, campaign_id), RuntimeError)

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.lease_owner) == ("running", None)
    assert sorted(r.status for r in recipients.values()) == ["pending"] * 7 + ["sent"] * 3
    make_sender(gateway).run_campaign(campaign_id)
    assert sorted(c.phone for c in gateway.calls) == numbers
    assert read(campaign_id)[0].status == "completed"


def test_a_message_that_cannot_be_rendered_fails_alone(
    make_campaign, make_sender, read, monkeypatch
):
    numbers = phones(4)
    campaign_id = make_campaign(numbers)
    real_render = sender_module.render_for_contact

    def render(template, campaign_id, phone_column, phone, fields_json):
        if phone == numbers[1]:
            raise ValueError("broken template data")
        return real_render(template, campaign_id, phone_column, phone, fields_json)

    monkeypatch.setattr(sender_module, "render_for_contact", render)
    gateway = ScriptedGateway()

    assert run_briefly(make_sender(gateway).run_campaign, campaign_id) is None

    campaign, recipients = read(campaign_id)
    assert numbers[1] not in [c.phone for c in gateway.calls]
    assert (recipients[numbers[1]].status, recipients[numbers[1]].error) == (
        "failed",
        NOT_RENDERED,
    )
    assert (campaign.status, campaign.count_sent, campaign.count_failed) == ("completed", 3, 1)


def test_an_answer_the_sender_cannot_read_leaves_the_recipient_unknown(
    make_campaign, make_sender, read
):
    numbers = phones(5)
    campaign_id = make_campaign(numbers)
    gateway = ScriptedGateway(answer=lambda p, n: "garbage" if p == numbers[2] else sent(p, n))

    assert run_briefly(make_sender(gateway).run_campaign, campaign_id) is None

    campaign, recipients = read(campaign_id)
    assert recipients[numbers[2]].status == "unknown"
    assert gateway.count(numbers[2]) == 1
    assert (campaign.status, campaign.count_sent, campaign.count_unknown) == ("completed", 4, 1)


@pytest.mark.parametrize("retry_after", [math.inf, 1e308, 1e12, math.nan, -5.0])
def test_an_absurd_retry_after_neither_breaks_nor_stalls_the_run(
    make_campaign, make_sender, clock, read, retry_after
):
    numbers = phones(3)
    campaign_id = make_campaign(numbers)
    slow_down = replace(UNAVAILABLE, http_status=429, retry_after=retry_after)
    gateway = ScriptedGateway(
        clock, answer=lambda p, n: slow_down if n == 1 and p == numbers[0] else sent(p, n)
    )
    config = replace(PATIENT, backoff_s=1)

    assert run_briefly(make_sender(gateway, config=config).run_campaign, campaign_id) is None

    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.count_sent) == ("completed", 3)
    assert gateway.calls[-1].at <= config.max_retry_after_s + 5


def test_the_same_refusal_call_after_call_pauses_instead_of_failing_everyone(
    make_campaign, make_sender, read
):
    campaign_id = make_campaign(phones(30))
    no_app = SendResult(
        Outcome.RECIPIENT_ERROR, error="App 9 is not linked to the account", http_status=400
    )
    gateway = ScriptedGateway(answer=lambda p, n: no_app)

    make_sender(gateway, config=ONE_AT_A_TIME).run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert (campaign.status, campaign.pause_code) == ("paused", "gateway_error")
    assert campaign.pause_detail == "App 9 is not linked to the account"
    assert len(gateway.calls) == FAST.same_error_calls
    statuses = [r.status for r in recipients.values()]
    assert statuses.count("pending") == 30 - FAST.same_error_calls


def test_refusals_about_the_numbers_themselves_never_pause(make_campaign, make_sender, read):
    campaign_id = make_campaign(phones(12))
    not_on_whatsapp = SendResult(
        Outcome.RECIPIENT_ERROR,
        error="The phone number is not registered in WhatsApp",
        http_status=400,
    )
    gateway = ScriptedGateway(answer=lambda p, n: not_on_whatsapp)

    make_sender(gateway).run_campaign(campaign_id)

    campaign, _ = read(campaign_id)
    assert (campaign.status, campaign.count_failed) == ("completed", 12)


def test_failures_before_a_nights_wait_do_not_pause_after_it(
    make_campaign, make_sender, clock, read
):
    # Noon in Moscow: one sent today; the daily limit waits for midnight, when the gateway
    # has a bad minute (20 failures in a few seconds) and then recovers.
    campaign_id = make_campaign(phones(3), daily_limit=1, rate_per_minute=600)
    count = itertools.count(1)
    gateway = ScriptedGateway(
        clock, answer=lambda p, n: UNAVAILABLE if 2 <= next(count) <= 22 else sent(p, n)
    )
    config = replace(PATIENT, backoff_s=0.1, max_backoff_s=0.1, max_attempts=100)

    make_sender(gateway, config=config).run_campaign(campaign_id)

    campaign, _ = read(campaign_id)
    midnight = 12 * 3600
    failures = [c for c in gateway.calls if midnight <= c.at < midnight + 3600]
    assert len(failures) > FAST.down_after_calls
    assert (campaign.status, campaign.pause_code) != ("paused", "gateway_unavailable")
    assert (campaign.count_sent, campaign.status) == (3, "completed")


def test_a_restarted_process_with_the_same_sender_id_settles_what_the_dead_one_left(
    app, make_campaign, make_sender, read, store
):
    numbers = phones(4)
    campaign_id = make_campaign(numbers)
    dead = make_sender(ScriptedGateway(), sender_id="web-1")
    # The dead process claimed one recipient and died before the call's answer; its lease ran
    # out (taken for no time at all here).
    owner = f"{dead.id}/1"
    assert store.take_lease(campaign_id, owner, datetime.now(UTC), -1)
    store.claim(campaign_id, owner, 1, datetime.now(UTC), -1)
    restarted = make_sender(ScriptedGateway(), sender_id="web-1")
    assert restarted.id != dead.id

    assert restarted.run_campaign(campaign_id)

    campaign, recipients = read(campaign_id)
    assert (recipients[numbers[0]].status, recipients[numbers[0]].error) == ("unknown", INTERRUPTED)
    assert (campaign.status, campaign.count_sent, campaign.count_unknown) == ("completed", 3, 1)
