"""When to send: an even pace with random delays, daily limits and app rotation.

Pure functions and small objects; the caller passes the time in (monotonic seconds), so
everything here is testable without waiting. Send windows and days are in ``webapp.windows``.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Mapping, Sequence

from ..campaigns.options import App


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


def apps_under_limit(
    apps: Sequence[App], sent_today: Mapping[App, int], daily_limit: int | None
) -> list[App]:
    """The apps that may still send today, in order; all of them when there is no limit."""
    if daily_limit is None:
        return list(apps)
    return [app for app in apps if sent_today.get(app, 0) < daily_limit]
