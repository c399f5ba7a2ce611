"""Reminders: each recipient's own send time, read from a date (and time) column of the list.

Pure functions: the caller passes the cells, the time now and the send window. A campaign's
``schedule`` option says which columns hold the appointment and the rule that turns it into
the reminder's due time, in the campaign's time zone (its send window's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..formats import parse_moment
from ..i18n import N_
from ..windows import SendWindow

RULES = ("before", "at")
MAX_DAYS = 366
MAX_HOURS = 24 * MAX_DAYS

# Why a recipient of a scheduled campaign is skipped (its ``error``).
UNREADABLE = N_("The date or time of the visit cannot be read")
TIME_PASSED = N_("Time passed")
REASONS = (UNREADABLE, TIME_PASSED)

SHAPE = N_(
    'Give the schedule as {"column": "Дата визита", "rule": "before", "days": 1, "at": "10:00"}.'
)


class ScheduleError(ValueError):
    """A schedule option that cannot be used; ``args[0]`` is an untranslated text for people."""


@dataclass(frozen=True)
class Due:
    """When one recipient's reminder goes, or why it does not."""

    at: datetime | None
    """UTC; None when the recipient is skipped."""
    error: str | None = None
    moved: bool = False
    """The rule's time fell outside the send window: ``at`` is the window's next opening."""


@dataclass(frozen=True)
class Schedule:
    column: str
    """The column with the appointment's date, or date and time."""
    time_column: str | None
    """A separate column with the appointment's time, if any."""
    rule: str
    """``before``: ``days`` and ``hours`` before (at ``at`` on that day if given);
    ``at``: at the appointment's time (at ``at`` on its day if given)."""
    days: int
    hours: int
    at: time | None
    grace_hours: float | None
    """Reminders already late at launch still go within this many hours; None: skipped."""

    def to_dict(self) -> dict[str, Any]:
        """The schedule in the API's shape (also how it is stored)."""
        return {
            "column": self.column,
            "time_column": self.time_column,
            "rule": self.rule,
            "days": self.days,
            "hours": self.hours,
            "at": self.at and self.at.strftime("%H:%M"),
            "late": "skip" if self.grace_hours is None else {"grace_hours": self.grace_hours},
        }

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) if self.time_column is None else (self.column, self.time_column)

    def appointment(self, cell: str | None, time_cell: str | None = None) -> datetime | None:
        """The appointment's local date and time read from its cells; None if unreadable."""
        moment = parse_moment(cell or "")
        if not isinstance(moment, datetime):
            return None
        if self.time_column is None:
            return moment
        clock = parse_moment(time_cell or "")
        if isinstance(clock, datetime):  # a time cell Excel keeps as a date-time
            clock = clock.time()
        return datetime.combine(moment.date(), clock) if isinstance(clock, time) else None

    def due(
        self,
        cell: str | None,
        time_cell: str | None,
        now: datetime,
        timezone: str,
        window: SendWindow | None = None,
    ) -> Due:
        """The reminder's due time for the appointment in these cells, as of ``now``."""
        appointment = self.appointment(cell, time_cell)
        if appointment is None:
            return Due(None, UNREADABLE)
        if self.at is not None:
            local = datetime.combine(appointment.date() - timedelta(days=self.days), self.at)
        else:
            local = appointment - timedelta(days=self.days, hours=self.hours)
        at = local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        if at < now:
            late = self.grace_hours is not None and now - at <= timedelta(hours=self.grace_hours)
            return Due(at) if late else Due(None, TIME_PASSED)
        opens = window.next_open(at).astimezone(UTC) if window else at
        return Due(opens, moved=opens != at)


@dataclass(frozen=True)
class Spread:
    """How a campaign's reminders spread over time: the ETA of a scheduled campaign."""

    first: datetime
    last: datetime
    most_per_day: int


def spread(moments: Iterable[tuple[datetime, int]], timezone: str) -> Spread | None:
    """The spread of due times given as (moment, how many); None when there are none."""
    zone = ZoneInfo(timezone)
    per_day: Counter[date] = Counter()
    first = last = None
    for moment, count in moments:
        per_day[moment.astimezone(zone).date()] += count
        first = moment if first is None else min(first, moment)
        last = moment if last is None else max(last, moment)
    if first is None or last is None:
        return None
    return Spread(first, last, max(per_day.values()))


def parse_schedule(value: Any) -> Schedule | None:
    """The ``schedule`` option from its API shape; raises ScheduleError."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {
        "column",
        "time_column",
        "rule",
        "days",
        "hours",
        "at",
        "late",
    }:
        raise ScheduleError(SHAPE)
    column, time_column = value.get("column"), value.get("time_column")
    if not isinstance(column, str) or not column or not isinstance(time_column, str | None):
        raise ScheduleError(N_("Choose the column with the date of the visit."))
    rule = value.get("rule", "before")
    if rule not in RULES:
        raise ScheduleError(N_('The rule is "before" or "at".'))
    days = _whole(value.get("days"), MAX_DAYS, N_("Days before: a whole number, 0 to 366."))
    hours = _whole(value.get("hours"), MAX_HOURS, N_("Hours before: a whole number, 0 to 8784."))
    at = _clock(value.get("at"))
    if rule == "at" and (days or hours):
        raise ScheduleError(N_("“At the visit's time” takes no days or hours before."))
    if at is not None and hours:
        raise ScheduleError(N_("Give either hours before or a time of day, not both."))
    return Schedule(
        column=column,
        time_column=time_column or None,
        rule=rule,
        days=days,
        hours=hours,
        at=at,
        grace_hours=_grace(value.get("late", "skip")),
    )


def _whole(value: Any, maximum: int, message: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ScheduleError(message)
    return value


def _clock(value: Any) -> time | None:
    if value in (None, ""):
        return None
    try:
        return time.fromisoformat(value).replace(second=0, microsecond=0)
    except (TypeError, ValueError):
        raise ScheduleError(N_("Give the time of day as HH:MM, like 10:00.")) from None


def _grace(value: Any) -> float | None:
    if value == "skip":
        return None
    grace = value.get("grace_hours") if isinstance(value, Mapping) else None
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 < grace <= MAX_HOURS:
        raise ScheduleError(
            N_('Late ones: "skip", or {"grace_hours": N} to send those up to N hours late.')
        )
    return grace
