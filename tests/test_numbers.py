"""WhatsApp numbers: pace slots, daily counters and warm-up, in real transactions on both DBs."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from webapp.extensions import db
from webapp.models import Campaign, ContactList, Setting
from webapp.numbers import (
    WAIT_DAILY_LIMIT,
    WAIT_PAUSED,
    NumberError,
    NumberState,
    Settled,
    capacities,
    ensure_numbers,
    history,
    list_numbers,
    lock_states,
    plan_slots,
    save_slots,
    settle,
    take_slots,
    update_number,
    warmup_limit,
    why_waiting,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
TODAY = date(2026, 12, 1)


def state(app, *, rate=60.0, limit=None, taken=0, paused=False, free_at=None) -> NumberState:
    return NumberState(
        key=str(app),
        app=app,
        interval_s=60 / rate if rate else 0.0,
        limit=limit,
        taken=taken,
        paused=paused,
        next_free_at=free_at,
        day=TODAY,
        timezone="Europe/Moscow",
    )


def test_warmup_grows_by_the_percentage_each_day_up_to_the_limit():
    assert [warmup_limit(10, 50, day, 40) for day in range(5)] == [10, 15, 22, 33, 40]
    assert warmup_limit(10, 0, 30, None) == 10
    assert warmup_limit(10, 100, 3, None) == 80


def test_slots_keep_the_numbers_pace_and_the_campaigns_own():
    number = state(31, rate=60)
    slots = plan_slots([number], 3, NOW, NOW, gap_s=0, horizon_s=5)
    assert [s.at for s in slots] == [NOW + timedelta(seconds=i) for i in range(3)]
    assert number.next_free_at == NOW + timedelta(seconds=3)

    stricter = plan_slots([state(31, rate=60)], 2, NOW, NOW, gap_s=2.5, horizon_s=5)
    assert [s.at for s in stricter] == [NOW, NOW + timedelta(seconds=2.5)]


def test_slots_beyond_the_horizon_are_not_taken():
    number = state(31, rate=60, free_at=NOW + timedelta(seconds=1))
    assert len(plan_slots([number], 10, NOW, NOW, gap_s=0, horizon_s=2.5)) == 2


def test_rotation_takes_the_number_free_soonest_then_most_room_and_skips_paused_and_full():
    a, b = state(1, limit=2), state(2, limit=5)
    c, d = state(3, paused=True), state(4, limit=3, taken=3)
    slots = plan_slots([a, b, c, d], 7, NOW, NOW, gap_s=0, horizon_s=60)
    assert [s.app for s in slots] == [2, 1, 2, 1, 2, 2, 2]
    assert (a.taken, b.taken) == (2, 5)


def test_waiting_says_why_and_until_when():
    assert why_waiting([state(1, paused=True)], NOW) == (WAIT_PAUSED, None)
    reason, until = why_waiting([state(1, limit=1, taken=1), state(2, paused=True)], NOW)
    assert reason == WAIT_DAILY_LIMIT
    assert until == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # midnight in Moscow


@pytest.fixture
def conn(app):
    with app.app_context():
        connection = db.session.connection()
        yield connection
        db.session.rollback()


def test_claims_count_and_refusals_give_their_place_back(conn):
    ensure_numbers(conn, [31])
    update_number(conn, "31", {"daily_limit": 3, "rate_per_minute": 60}, NOW)
    states = lock_states(conn, [31], NOW)
    slots = plan_slots(states, 5, NOW, NOW, gap_s=0, horizon_s=60)
    save_slots(conn, states, slots)
    assert len(slots) == 3

    again = lock_states(conn, [31], NOW)
    assert (again[0].taken, again[0].room) == (3, 0)
    assert again[0].next_free_at == NOW + timedelta(seconds=3)
    settle(
        conn,
        [
            Settled(31, NOW, "sent"),
            Settled(31, NOW, "unknown"),
            Settled(31, NOW, "refused", "not linked"),
        ],
        NOW,
    )
    assert lock_states(conn, [31], NOW)[0].room == 1
    (number,) = [n for n in list_numbers(conn, NOW) if n["app"] == 31]
    assert (number["sent_today"], number["unknown_today"], number["failed_today"]) == (1, 1, 0)
    assert number["last_error"] == "not linked"
    assert number["last_sent_at"] == NOW.isoformat()


def test_a_call_counts_on_the_day_it_was_claimed(conn):
    update_number(conn, "7", {"daily_limit": 1}, NOW)
    states = lock_states(conn, [7], NOW)
    save_slots(conn, states, plan_slots(states, 1, NOW, NOW, gap_s=0, horizon_s=1))
    tomorrow = NOW + timedelta(days=1)
    assert lock_states(conn, [7], tomorrow)[0].room == 1
    settle(conn, [Settled(7, NOW, "failed", "bad number")], tomorrow)
    assert lock_states(conn, [7], NOW)[0].room == 1
    assert lock_states(conn, [7], tomorrow)[0].room == 1
    days = history(conn, "7", tomorrow)
    assert len(days) == 14 and days[-1]["day"] == date(2026, 12, 2)
    assert days[-2]["failed"] == 1


def test_warmup_raises_the_limit_day_by_day(conn):
    warmup = {"start": 5, "growth_percent": 100}
    update_number(conn, "5", {"daily_limit": 20, "warmup": warmup}, NOW)
    limits = [lock_states(conn, [5], NOW + timedelta(days=d))[0].limit for d in range(4)]
    assert limits == [5, 10, 20, 20]


def test_the_default_number_and_migrated_ones_are_listed(conn):
    numbers = list_numbers(conn, NOW)
    assert numbers[0]["app"] is None
    updated = update_number(conn, "default", {"label": " Main ", "paused": True}, NOW)
    assert (updated["label"], updated["paused"]) == ("Main", True)


@pytest.mark.parametrize(
    "given",
    [
        {"rate_per_minute": 0},
        {"rate_per_minute": "fast"},
        {"daily_limit": 0},
        {"daily_limit": 2.5},
        {"warmup": {"start": 0, "growth_percent": 10}},
        {"warmup": {"start": 5}},
        {"paused": "yes"},
        {"label": 5},
        {"colour": "red"},
    ],
)
def test_bad_values_are_refused_and_change_nothing(conn, given):
    with pytest.raises(NumberError):
        update_number(conn, "default", given, NOW)
    assert list_numbers(conn, NOW)[0]["rate_per_minute"] is None


def test_a_key_that_is_no_app_id_is_refused(conn):
    with pytest.raises(NumberError):
        update_number(conn, "-1", {"paused": True}, NOW)


def test_a_claim_takes_slots_within_the_campaigns_own_limit_and_says_why_it_waits(conn):
    update_number(conn, "1", {"rate_per_minute": 60, "daily_limit": 10}, NOW)
    update_number(conn, "2", {"paused": True}, NOW)

    taken = take_slots(conn, {1: 2, 2: None}, 5, NOW, horizon_s=60)
    assert [(s.app, s.at) for s in taken.slots] == [(1, NOW), (1, NOW + timedelta(seconds=1))]

    busy = take_slots(conn, {1: None}, 1, NOW, horizon_s=0.5)
    assert (busy.slots, busy.waiting, busy.until) == ([], None, NOW + timedelta(seconds=2))
    paused = take_slots(conn, {2: None}, 1, NOW)
    assert (paused.waiting, paused.until) == (WAIT_PAUSED, None)
    update_number(conn, "1", {"daily_limit": 2}, NOW)
    full = take_slots(conn, {1: None, 2: None}, 1, NOW)
    assert full.waiting == WAIT_DAILY_LIMIT
    assert full.until == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def test_numbers_a_campaign_names_are_created_with_the_defaults_from_settings(conn):
    conn.execute(insert(Setting).values(key="number_defaults", value='{"daily_limit": 50}'))
    take_slots(conn, {44: None}, 1, NOW)
    (number,) = [n for n in list_numbers(conn, NOW) if n["app"] == 44]
    assert (number["daily_limit"], number["sent_today"]) == (50, 0)


def test_a_numbers_ceiling_is_shared_with_the_other_running_campaigns(conn, app):
    update_number(conn, "9", {"rate_per_minute": 60, "daily_limit": 100}, NOW)
    list_id = conn.execute(
        insert(ContactList).values(name="l", phone_column="p").returning(ContactList.id)
    ).scalar_one()
    for status in ("running", "running", "paused"):
        conn.execute(
            insert(Campaign).values(
                name="x",
                list_id=list_id,
                template="t",
                options_json='{"app": [9, 3]}',
                status=status,
            )
        )
    (capacity,) = capacities(conn, [9], NOW, campaign_id=None)
    assert capacity.rate_per_minute == 20  # beside two running campaigns
    assert capacity.limit_on(TODAY) == 100
