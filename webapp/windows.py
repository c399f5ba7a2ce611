"""Send windows and sending days in a time zone: pure, importing nothing from the app.

Campaign options, estimates, the sender and the WhatsApp numbers all count days and open hours
the same way through these; the caller passes aware datetimes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Europe/Moscow"


@dataclass(frozen=True)
class SendWindow:
    """Daily hours when sending is allowed, in local time of ``timezone``; may cross midnight.

    ``start`` is inside the window, ``end`` is not; ``start == end`` means all day.
    """

    start: time
    end: time
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        # An unknown zone is refused now, as bad input, rather than at the first send.
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone: {self.timezone}") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SendWindow:
        """From ``{"start": "09:00", "end": "21:00", "timezone": "Europe/Moscow"}``."""
        return cls(
            time.fromisoformat(data["start"]),
            time.fromisoformat(data["end"]),
            data.get("timezone") or DEFAULT_TIMEZONE,
        )

    def is_open(self, dt: datetime) -> bool:
        now = _local(dt, self.timezone).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def next_open(self, dt: datetime) -> datetime:
        """``dt`` itself when the window is open, else when it next opens (in its timezone)."""
        if self.is_open(dt):
            return dt
        local = _local(dt, self.timezone)
        opens = datetime.combine(local.date(), self.start, tzinfo=local.tzinfo)
        return opens if opens > local else opens + timedelta(days=1)


def _local(dt: datetime, timezone: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return dt.astimezone(ZoneInfo(timezone))


def local_day(dt: datetime, timezone: str = DEFAULT_TIMEZONE) -> date:
    """The date ``dt`` falls on in ``timezone``."""
    return _local(dt, timezone).date()


def day_start(dt: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Midnight that began the day of ``dt`` in ``timezone``: count today's sends from it."""
    local = _local(dt, timezone)
    return datetime.combine(local.date(), time(), tzinfo=local.tzinfo)


def next_day_start(dt: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The next midnight after ``dt`` in ``timezone``, when daily limits start over."""
    start = day_start(dt, timezone)
    return datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=start.tzinfo)
