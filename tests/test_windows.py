from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from webapp.windows import SendWindow, day_start, local_day, next_day_start

MSK = ZoneInfo("Europe/Moscow")


def msk(hour: int, minute: int = 0, day: int = 15, month: int = 1) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=MSK)


DAYTIME = SendWindow(time(9), time(21))
OVERNIGHT = SendWindow(time(21), time(9))


@pytest.mark.parametrize(
    ("window", "moment", "is_open"),
    [
        (DAYTIME, msk(8, 59), False),
        (DAYTIME, msk(9, 0), True),
        (DAYTIME, msk(20, 59), True),
        (DAYTIME, msk(21, 0), False),
        (OVERNIGHT, msk(21, 0), True),
        (OVERNIGHT, msk(23, 30), True),
        (OVERNIGHT, msk(3, 0), True),
        (OVERNIGHT, msk(9, 0), False),
        (OVERNIGHT, msk(12, 0), False),
    ],
)
def test_window_is_open(window, moment, is_open):
    assert window.is_open(moment) is is_open
    assert window.is_open(moment.astimezone(UTC)) is is_open


@pytest.mark.parametrize(
    ("window", "moment", "opens"),
    [
        (DAYTIME, msk(8, 0), msk(9, 0)),
        (DAYTIME, msk(22, 0), msk(9, 0, day=16)),
        (DAYTIME, msk(12, 0), msk(12, 0)),
        (OVERNIGHT, msk(12, 0), msk(21, 0)),
        (OVERNIGHT, msk(9, 0), msk(21, 0)),
        (OVERNIGHT, msk(2, 0), msk(2, 0)),
    ],
)
def test_window_next_open(window, moment, opens):
    assert window.next_open(moment.astimezone(UTC)) == opens


def test_moscow_has_no_summer_time():
    # 09:00 in Moscow is 06:00 UTC in winter and in summer alike.
    for month in (1, 7):
        assert DAYTIME.next_open(datetime(2024, month, 10, 0, 0, tzinfo=UTC)) == datetime(
            2024, month, 10, 6, 0, tzinfo=UTC
        )


def test_window_in_another_timezone():
    window = SendWindow(time(9), time(18), "Asia/Vladivostok")
    assert window.is_open(datetime(2024, 1, 15, 0, 0, tzinfo=UTC))  # 10:00 in Vladivostok
    assert not window.is_open(datetime(2024, 1, 15, 9, 0, tzinfo=UTC))  # 19:00 there


def test_window_with_equal_ends_is_always_open():
    window = SendWindow(time(0), time(0))
    assert all(window.is_open(msk(hour)) for hour in range(24))


def test_window_from_dict():
    window = SendWindow.from_dict({"start": "09:30", "end": "21:00", "timezone": "Asia/Omsk"})
    assert window == SendWindow(time(9, 30), time(21), "Asia/Omsk")
    assert SendWindow.from_dict({"start": "09:00", "end": "21:00"}).timezone == "Europe/Moscow"


def test_window_refuses_unknown_timezone_and_naive_times():
    with pytest.raises(ValueError):
        SendWindow(time(9), time(21), "Mars/Olympus")
    with pytest.raises(ValueError):
        DAYTIME.is_open(datetime(2024, 1, 15, 12, 0))


def test_day_boundaries_are_local_midnights():
    late_evening = datetime(2024, 3, 10, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    assert day_start(late_evening) == datetime(2024, 3, 10, 0, 0, tzinfo=MSK)
    assert next_day_start(late_evening) == datetime(2024, 3, 10, 21, 0, tzinfo=UTC)
    just_after = datetime(2024, 3, 10, 21, 0, tzinfo=UTC)  # 00:00 on the 11th in Moscow
    assert day_start(just_after) == next_day_start(late_evening)
    assert next_day_start(just_after) - day_start(just_after) == timedelta(days=1)
    assert next_day_start(late_evening, "UTC") == datetime(2024, 3, 11, tzinfo=UTC)
    assert local_day(late_evening) == date(2024, 3, 10)
    assert local_day(just_after) == date(2024, 3, 11)
    assert local_day(just_after, "UTC") == date(2024, 3, 10)
