"""Reminder campaigns in the sender, under the fake clock: each at its time, resting between."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_campaign, make_list
from webapp.campaigns import service
from webapp.extensions import db
from webapp.numbers import update_number

from .conftest import FAST, ScriptedGateway

PATIENT = replace(FAST, max_in_flight=1, heartbeat_s=600, lease_s=1800)
WINDOW = {"start": "09:00", "end": "21:00", "timezone": "Europe/Moscow"}
# The fake clock starts on 1 December at 12:00 in Moscow (09:00 UTC).
VISITS = {
    "79000000001": "02.12.2026 11:00",
    "79000000002": "03.12.2026 9:30",
    "79000000003": "2026-12-03 18:00:00",
    "79000000004": "5.12.26 10:15",
    "79000000005": "07.12.2026 12:00",
    "79000000006": "09.12.2026 08:00",
    "79000000007": "11.12.2026 16:45",
    "79000000008": "01.12.2026 12:30",  # an hour before is already past
    "79000000009": "не помню",
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def start(app, clock):
    """Start a campaign over ``VISITS`` reminding ``schedule`` ahead, as of the fake clock."""

    def start(schedule: dict | None = None, visits: dict = VISITS, **options) -> int:
        with app.app_context():
            contact_list = make_list(
                list(visits), [{"Имя": "Анна", "Визит": v} for v in visits.values()]
            )
            campaign_id = make_campaign(
                contact_list.id,
                "{{ Имя }}, ждём вас {{ Визит }}",
                schedule=schedule or {"column": "Визит", "rule": "before", "hours": 1},
                send_window=WINDOW,
                rate_per_minute=60,
                **options,
            )
            service.start_campaign(db.session, campaign_id, clock.now())
            db.session.commit()
            return campaign_id

    return start


def run_until_done(campaign_id, senders, clock, read, *, limit: int = 50):
    """Run each due stretch with the next of ``senders``, moving the clock to the next due
    time in between, as a sender polling would; the campaign as it ends."""
    for sender in senders[:limit]:
        sender.run_campaign(campaign_id)
        campaign, _ = read(campaign_id)
        if campaign.status == "completed":
            return campaign
        assert campaign.next_due_at is not None and campaign.lease_owner is None
        clock.elapsed = max(clock.elapsed, (campaign.next_due_at - clock.start).total_seconds())
    raise AssertionError("the campaign did not complete")


def sent_at(clock, gateway) -> dict[str, datetime]:
    return {call.phone: clock.start + timedelta(seconds=call.at) for call in gateway.calls}


def test_visits_over_ten_days_each_get_their_reminder_at_its_time(start, make_sender, clock, read):
    campaign_id = start()
    gateway = ScriptedGateway(clock)
    sender = make_sender(gateway, config=PATIENT)

    campaign = run_until_done(campaign_id, [sender] * 20, clock, read)

    _, recipients = read(campaign_id)
    times = sent_at(clock, gateway)
    assert len(gateway.calls) == len(times) == 7  # once each
    for phone, recipient in recipients.items():
        if phone in times:
            assert recipient.status == "sent"
            assert recipient.due_at <= times[phone] < recipient.due_at + timedelta(seconds=5)
    assert recipients["79000000001"].due_at == utc(2026, 12, 2, 7, 0)  # 10:00 in Moscow
    # 07:00 in Moscow is before the window: at its opening
    assert recipients["79000000006"].due_at == utc(2026, 12, 9, 6, 0)
    assert (recipients["79000000008"].status, recipients["79000000008"].error) == (
        "skipped",
        "Time passed",
    )
    assert recipients["79000000009"].status == "skipped"
    assert campaign.finished_at >= utc(2026, 12, 11, 12, 45)
    assert service.counts(campaign)["sent"] == 7


def test_between_reminders_the_campaign_runs_but_no_sender_takes_it(
    start, make_sender, clock, read, store
):
    campaign_id = start()
    make_sender(ScriptedGateway(clock), config=PATIENT).run_campaign(campaign_id)

    campaign, _ = read(campaign_id)
    assert campaign.status == "running"
    assert campaign.next_due_at == utc(2026, 12, 2, 7, 0)
    assert store.campaigns_to_run(clock.now()) == []
    assert store.take_lease(campaign_id, "other", clock.now(), 60) is None
    assert store.campaigns_to_run(utc(2026, 12, 2, 7, 0)) == [campaign_id]


def test_a_restart_between_reminders_sends_nothing_twice_and_misses_none(
    start, make_sender, clock, read
):
    campaign_id = start()
    gateway = ScriptedGateway(clock)
    # A new sender, as after a restart, for every stretch.
    senders = [make_sender(gateway, config=PATIENT) for _ in range(20)]

    run_until_done(campaign_id, senders, clock, read)

    assert sorted(c.phone for c in gateway.calls) == sorted(
        p for p in VISITS if p not in ("79000000008", "79000000009")
    )


def test_a_numbers_daily_limit_holds_reminders_over_to_the_next_day(
    app, start, make_sender, clock, read
):
    with app.app_context():
        update_number(db.session.connection(), "7", {"daily_limit": 2}, clock.now())
        db.session.commit()
    visits = {f"7900000010{n}": f"03.12.2026 1{n}:00" for n in range(4)}
    campaign_id = start(
        {"column": "Визит", "rule": "before", "days": 1, "at": "10:00"}, visits, app=7
    )
    gateway = ScriptedGateway(clock)

    run_until_done(campaign_id, [make_sender(gateway, config=PATIENT)] * 10, clock, read)

    days = sorted((clock.start + timedelta(seconds=c.at)).date().day for c in gateway.calls)
    assert days == [2, 2, 3, 3]


def test_rows_added_while_resting_wake_the_campaign(start, make_sender, clock, read, app):
    campaign_id = start()
    gateway = ScriptedGateway(clock)
    sender = make_sender(gateway, config=PATIENT)
    sender.run_campaign(campaign_id)
    with app.app_context():
        added = service.add_recipients(
            db.session,
            campaign_id,
            [
                {"Телефон": "79000000050", "Имя": "Олег", "Визит": "01.12.2026 13:00"},
                {"Телефон": "+7 900 000-00-01", "Имя": "Анна", "Визит": "02.12.2026 11:00"},
            ],
            clock.now(),
        )
        db.session.commit()
    assert (added.added, added.duplicates) == (1, 1)
    campaign, _ = read(campaign_id)
    assert campaign.next_due_at is None

    sender.run_campaign(campaign_id)

    assert [c.phone for c in gateway.calls] == ["79000000050"]
    assert read(campaign_id)[0].next_due_at == utc(2026, 12, 2, 7, 0)
