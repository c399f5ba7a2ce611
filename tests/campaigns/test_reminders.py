"""Due times from a visit's cells: the formats people type and Excel keeps, the rules, windows."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from webapp.campaigns.options import OptionsError, parse_options
from webapp.campaigns.reminders import TIME_PASSED, UNREADABLE, Due, parse_schedule
from webapp.windows import SendWindow

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
MOSCOW = "Europe/Moscow"
WINDOW = SendWindow(time(9), time(21), MOSCOW)


def moscow(*args: int) -> datetime:
    """A Moscow wall-clock time, in UTC."""
    return datetime(*args, tzinfo=ZoneInfo(MOSCOW)).astimezone(UTC)


def schedule(**given):
    return parse_schedule({"column": "Визит", **given})


@pytest.mark.parametrize(
    "cell",
    [
        "05.12.2026 9:30",
        "5.12.26 09:30",
        "2026-12-05 09:30:00",
        "2026-12-05T09:30:00",
        "05/12/2026 9:30",
    ],
)
def test_a_visit_is_read_as_people_type_it_and_excel_keeps_it(cell):
    assert schedule(rule="at").due(cell, None, NOW, MOSCOW) == Due(moscow(2026, 12, 5, 9, 30))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"rule": "before", "days": 1, "at": "10:00"}, moscow(2026, 12, 4, 10, 0)),
        ({"rule": "before", "hours": 3}, moscow(2026, 12, 5, 15, 30)),
        ({"rule": "before", "days": 2, "hours": 1}, moscow(2026, 12, 3, 17, 30)),
        ({"rule": "at", "at": "09:00"}, moscow(2026, 12, 5, 9, 0)),
        ({"rule": "at"}, moscow(2026, 12, 5, 18, 30)),
    ],
)
def test_each_rule_gives_its_time_in_the_campaign_zone(rule, expected):
    with_time = parse_schedule({"column": "Дата", "time_column": "Время", **rule})
    assert with_time.due("05.12.2026", "18:30", NOW, MOSCOW).at == expected


def test_the_time_zone_is_the_campaigns():
    due = schedule(rule="at").due("05.12.2026 9:30", None, NOW, "Asia/Vladivostok")
    assert due.at == datetime(2026, 12, 4, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "cell", ["", None, "завтра", "31.02.2026 10:00", "9:30", "05.12.2026 25:00"]
)
def test_an_unreadable_visit_is_skipped_with_the_reason(cell):
    assert schedule(rule="at").due(cell, None, NOW, MOSCOW) == Due(None, UNREADABLE)


def test_a_time_column_that_cannot_be_read_is_unreadable_too():
    with_time = parse_schedule({"column": "Дата", "time_column": "Время", "rule": "at"})
    assert with_time.due("05.12.2026", "утром", NOW, MOSCOW) == Due(None, UNREADABLE)


def test_a_passed_time_is_skipped_unless_within_the_grace_period():
    cell = "01.12.2026 8:00"  # two hours ago
    assert schedule(rule="at").due(cell, None, NOW, MOSCOW) == Due(None, TIME_PASSED)
    late = schedule(rule="at", late={"grace_hours": 3})
    assert late.due(cell, None, NOW, MOSCOW) == Due(moscow(2026, 12, 1, 8, 0))
    too_late = schedule(rule="at", late={"grace_hours": 1})
    assert too_late.due(cell, None, NOW, MOSCOW) == Due(None, TIME_PASSED)


def test_a_time_outside_the_window_moves_to_its_next_opening():
    at_night = schedule(rule="before", hours=3).due("05.12.2026 9:30", None, NOW, MOSCOW, WINDOW)
    assert at_night == Due(moscow(2026, 12, 5, 9, 0), moved=True)
    evening = schedule(rule="at").due("05.12.2026 22:15", None, NOW, MOSCOW, WINDOW)
    assert evening == Due(moscow(2026, 12, 6, 9, 0), moved=True)
    inside = schedule(rule="at").due("05.12.2026 12:00", None, NOW, MOSCOW, WINDOW)
    assert inside == Due(moscow(2026, 12, 5, 12, 0))


def test_the_schedule_keeps_its_shape():
    given = {
        "column": "Дата",
        "time_column": "Время",
        "rule": "before",
        "days": 1,
        "hours": 0,
        "at": "10:00",
        "late": {"grace_hours": 2},
    }
    assert parse_options({"schedule": given}, {}).to_dict()["schedule"] == given
    assert parse_options({"schedule": None}, {}).schedule is None
    short = parse_options({"schedule": {"column": "Дата"}}, {}).to_dict()["schedule"]
    assert short == {
        "column": "Дата",
        "time_column": None,
        "rule": "before",
        "days": 0,
        "hours": 0,
        "at": None,
        "late": "skip",
    }


@pytest.mark.parametrize(
    "given",
    [
        "Дата",
        {},
        {"column": ""},
        {"column": "Дата", "rule": "after"},
        {"column": "Дата", "days": -1},
        {"column": "Дата", "days": 1.5},
        {"column": "Дата", "days": True},
        {"column": "Дата", "hours": 10**6},
        {"column": "Дата", "at": "25:00"},
        {"column": "Дата", "at": 10},
        {"column": "Дата", "hours": 2, "at": "10:00"},
        {"column": "Дата", "rule": "at", "days": 1},
        {"column": "Дата", "late": "send"},
        {"column": "Дата", "late": {"grace_hours": 0}},
        {"column": "Дата", "time_column": 5},
        {"column": "Дата", "extra": 1},
    ],
)
def test_a_bad_schedule_is_refused_with_a_clear_message(given):
    with pytest.raises(OptionsError) as refused:
        parse_options({"schedule": given}, {})
    assert refused.value.field == "schedule"
    assert refused.value.message
