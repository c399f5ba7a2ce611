from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from webapp.campaigns.eta import (
    MIN_SEND_INTERVAL_S,
    NumberCapacity,
    estimate_finish,
    expected_gap_s,
)
from webapp.campaigns.options import parse_options

MOSCOW = ZoneInfo("Europe/Moscow")
NO_LIMITS = {
    "rate_per_minute": None,
    "delay_min_s": None,
    "delay_max_s": None,
    "app": None,
    "send_window": None,
    "start_at": None,
    "daily_limit": None,
}


def plan(**given):
    return parse_options(given, NO_LIMITS)


def at(hour, minute=0, day=27):
    return datetime(2026, 11, day, hour, minute, tzinfo=MOSCOW)


@pytest.mark.parametrize(
    ("rate", "low", "high", "gap"),
    [
        (60, None, None, 1.0),  # the even pace alone
        (None, 2, 4, 3.0),  # the mean random delay alone
        (6, 2, 4, 10.0),  # the pace is slower than any delay
        (60, 2, 4, 3.0),  # any delay is slower than the pace
        (20, 2, 4, 3.25),  # the pace (3 s) cuts the range: half 3 s, half 3.5 s on average
        (None, None, None, MIN_SEND_INTERVAL_S),  # no limits: a gateway call's time
    ],
)
def test_the_expected_gap_follows_the_pacer(rate, low, high, gap):
    assert expected_gap_s(rate, low, high) == pytest.approx(gap)


def test_without_a_window_the_last_message_goes_after_pending_minus_one_gaps():
    now = at(10)
    assert estimate_finish(plan(rate_per_minute=60), 61, now) == now + timedelta(minutes=1)
    assert estimate_finish(plan(rate_per_minute=60), 0, now) == now


def test_sending_waits_for_the_window_and_stops_when_it_closes():
    window = {"start": "09:00", "end": "21:00", "timezone": "Europe/Moscow"}
    options = plan(rate_per_minute=1, send_window=window)
    # Before opening: starts at 09:00, so 10 messages end at 09:09.
    assert estimate_finish(options, 10, at(7)) == at(9, 9)
    # At 20:55 five go out by 20:59; the sixth is the first one tomorrow at 09:00.
    assert estimate_finish(options, 6, at(20, 55)) == at(9, 0, day=28)


def test_a_window_across_midnight():
    window = {"start": "22:00", "end": "02:00", "timezone": "Europe/Moscow"}
    options = plan(rate_per_minute=1, send_window=window)
    assert estimate_finish(options, 181, at(21)) == at(1, 0, day=28)
    assert estimate_finish(options, 241, at(21)) == at(22, 0, day=28)


def test_the_daily_limit_of_each_app_moves_the_rest_to_the_next_days():
    options = plan(rate_per_minute=60, daily_limit=100, app=[1, 2])
    # 200 a day with two apps: 450 messages take today, tomorrow and 50 the day after.
    finish = estimate_finish(options, 450, at(23))
    assert finish == at(0, 0, day=29) + timedelta(seconds=49)


def test_a_scheduled_start_counts_from_start_at():
    options = plan(rate_per_minute=60, start_at=at(12).isoformat())
    assert estimate_finish(options, 1, at(10)) == at(12)


def test_beyond_a_year_there_is_no_estimate():
    assert estimate_finish(plan(rate_per_minute=60, daily_limit=1), 1000, at(10)) is None
    assert estimate_finish(plan(delay_min_s=1e300), 2, at(10)) is None
    assert estimate_finish(plan(start_at="9999-12-31T00:00:00+00:00"), 2, at(10)) is None


def test_random_pauses_longer_than_the_pace_make_the_campaign_longer():
    """137 messages at 120 a minute: 0.5 s apart, but a pause of 0–1 s makes it 0.625 s on
    average, as the pacer keeps it (the longer of the two): 85 s, not 68 s."""
    now = at(10)
    even = estimate_finish(plan(rate_per_minute=120), 137, now)
    paused = estimate_finish(plan(rate_per_minute=120, delay_min_s=0, delay_max_s=1), 137, now)
    assert even == now + timedelta(seconds=136 * 0.5)
    assert paused == now + timedelta(seconds=136 * 0.625)


def test_the_numbers_ceilings_slow_a_faster_campaign():
    numbers = [NumberCapacity(30, lambda day: None), NumberCapacity(30, lambda day: None)]
    finish = estimate_finish(plan(rate_per_minute=600), 61, at(10), numbers)
    assert finish == at(10, 1)


def test_the_numbers_warmup_and_what_they_sent_today_move_the_rest_to_the_next_days():
    first_day = at(10).date()
    warming = NumberCapacity(None, lambda day: 10 * 2 ** (day - first_day).days, taken_today=5)
    # Today 5 are left, tomorrow 20, the day after 40: the 30th message goes the day after.
    finish = estimate_finish(plan(rate_per_minute=60), 30, at(10), [warming])
    assert finish == at(0, 0, day=29) + timedelta(seconds=4)
    assert estimate_finish(plan(rate_per_minute=60, daily_limit=3), 4, at(10), [warming]) == at(
        0, 0, day=28
    )
