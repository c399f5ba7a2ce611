"""When to send: an even pace with random delays, send windows, daily limits and app rotation.

Pure functions and small objects; the caller passes the time in (monotonic seconds for the
pacer, aware datetimes for calendars), so everything here is testable without waiting.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Europe/Moscow"


class Pacer:
    """Hands out send slots: an even schedule without bursts, plus optional random delays.

    The gap between two slots is ``max(60 / rate_per_minute, uniform(delay_min_s,
    delay_max_s))``; a missing rate or delay plays no part, and with neither there is no wait.
    A missing ``delay_max_s`` equals ``delay_min_s``, a missing ``delay_min_s`` is 0.
    """

    def __init__(
        self,
        rate_per_minute: float | None = None,
        delay_min_s: float | None = None,
        delay_max_s: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if rate_per_minute is not None and rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive, or None for no limit")
        self.interval_s = 60 / rate_per_minute if rate_per_minute else 0.0
        self.delay_min_s = delay_min_s or 0.0
        self.delay_max_s = self.delay_min_s if delay_max_s is None else delay_max_s
        if not 0 <= self.delay_min_s <= self.delay_max_s:
            raise ValueError("delays must satisfy 0 <= delay_min_s <= delay_max_s")
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        # (slot, the earliest next slot) of the last slot that has come and of those still
        # ahead: a reset gives back the slots ahead, which nobody will use after a pause.
        self._slots: deque[tuple[float, float]] = deque()

    def next_send_at(self, now: float) -> float:
        """Reserve the next slot (monotonic seconds): at ``now`` or later, in reservation order."""
        with self._lock:
            while len(self._slots) > 1 and self._slots[1][0] <= now:
                self._slots.popleft()
            slot = max(now, self._slots[-1][1]) if self._slots else now
            self._slots.append((slot, slot + self._gap()))
            return slot

    def postpone(self, slot: float, to: float) -> None:
        """The slot just reserved at ``slot`` is used at ``to`` instead (a busy WhatsApp number
        delayed it): the next slot keeps its distance from ``to``."""
        with self._lock:
            if self._slots and self._slots[-1][0] == slot and to > slot:
                _, earliest = self._slots.pop()
                self._slots.append((to, earliest + to - slot))

    def reset(self, now: float) -> None:
        """Give back the slots after ``now`` (after a pause); the next slot is from ``now`` on.

        The last slot that has come still counts, so the first send after a short pause keeps
        its distance; after a long one it goes at once, without catching up on missed slots.
        """
        with self._lock:
            while self._slots and self._slots[-1][0] > now:
                self._slots.pop()

    def _gap(self) -> float:
        if self.delay_max_s == 0:
            return self.interval_s
        return max(self.interval_s, self._rng.uniform(self.delay_min_s, self.delay_max_s))


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


def day_start(dt: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Midnight that began the day of ``dt`` in ``timezone``: count today's sends from it."""
    local = _local(dt, timezone)
    return datetime.combine(local.date(), time(), tzinfo=local.tzinfo)


def next_day_start(dt: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The next midnight after ``dt`` in ``timezone``, when daily limits start over."""
    start = day_start(dt, timezone)
    return datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=start.tzinfo)


App = int | None
"""A linked WhatsApp account of the gateway; None: the gateway's only one (no ``app`` sent)."""


def apps_under_limit(
    apps: Sequence[App], sent_today: Mapping[App, int], daily_limit: int | None
) -> list[App]:
    """The apps that may still send today, in order; all of them when there is no limit."""
    if daily_limit is None:
        return list(apps)
    return [app for app in apps if sent_today.get(app, 0) < daily_limit]
