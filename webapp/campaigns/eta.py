"""When a campaign will likely send its last message: a pure estimate from its sending options.

The pace is what ``webapp.sending.pacing.Pacer`` keeps on average, sends happen only while the
send window is open, and each app sends at most ``daily_limit`` a day. The campaign's WhatsApp
numbers, when given, slow it further: their ceilings (their share of them, beside the other
running campaigns), their daily limits with warm-up, and what they already sent today. Gateway
latency and retries are ignored beyond a floor per message, so the estimate errs early.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..windows import DEFAULT_TIMEZONE, SendWindow, day_start, next_day_start
from .options import SendingOptions

# A gateway call takes about this long, so even a campaign without limits is not instant.
MIN_SEND_INTERVAL_S = 0.5
# Further ahead than this an estimate means nothing (a tiny daily limit on a huge list, say).
HORIZON = timedelta(days=366)


def expected_gap_s(
    rate_per_minute: float | None, delay_min_s: float | None, delay_max_s: float | None
) -> float:
    """The mean seconds between two sends: E[max(60 / rate, uniform(delay_min, delay_max))]."""
    interval = 60 / rate_per_minute if rate_per_minute else 0.0
    low = delay_min_s or 0.0
    high = low if delay_max_s is None else delay_max_s
    if interval >= high:
        gap = interval
    elif interval <= low:
        gap = (low + high) / 2
    else:  # the interval cuts the delay's range: integrate max(interval, x) over it
        gap = (interval * (interval - low) + (high**2 - interval**2) / 2) / (high - low)
    return max(gap, MIN_SEND_INTERVAL_S)


@dataclass(frozen=True)
class NumberCapacity:
    """What one of the campaign's WhatsApp numbers leaves it."""

    rate_per_minute: float | None
    """The campaign's share of the number's ceiling; None: no ceiling."""
    limit_on: Callable[[date], int | None]
    """The number's daily limit on a day of ``timezone`` (warm-up included); None: none."""
    taken_today: int = 0
    timezone: str = DEFAULT_TIMEZONE


def effective_gap_s(options: SendingOptions, numbers: Sequence[NumberCapacity] = ()) -> float:
    """The mean seconds between two sends: the campaign's own pace, or its numbers' shares of
    their ceilings together when those are slower (the stricter wins)."""
    gap_s = expected_gap_s(options.rate_per_minute, options.delay_min_s, options.delay_max_s)
    if numbers and all(n.rate_per_minute for n in numbers):
        gap_s = max(gap_s, 60 / sum(n.rate_per_minute or 0 for n in numbers))
    return gap_s


def estimate_finish(
    options: SendingOptions,
    pending: int,
    now: datetime,
    numbers: Sequence[NumberCapacity] = (),
) -> datetime | None:
    """When the last of ``pending`` messages is likely sent; None beyond ``HORIZON``."""
    start = max(now, options.start_at) if options.start_at else now
    gap_s = effective_gap_s(options, numbers)
    if start - now > HORIZON or gap_s > HORIZON.total_seconds():
        return None
    if pending <= 0:
        return start
    gap = timedelta(seconds=gap_s)
    window = options.send_window
    timezone = window.timezone if window else DEFAULT_TIMEZONE
    moment, day, budget = start, None, None
    # Walk the stretches when sending may go on: the window's open hours, cut at midnight
    # where the daily limits start over.
    while moment - start < HORIZON:
        begin = window.next_open(moment) if window else moment
        end = min(_window_closes(window, begin), next_day_start(begin, timezone))
        if day != day_start(begin, timezone):
            day = day_start(begin, timezone)
            budget = _per_day(options, numbers, begin, now)
        sends = math.ceil((end - begin) / gap)
        if budget is not None:
            sends = min(sends, budget)
            budget -= sends
        if pending <= sends:
            return begin + (pending - 1) * gap
        pending -= sends
        moment = end
    return None


def _per_day(
    options: SendingOptions, numbers: Sequence[NumberCapacity], moment: datetime, now: datetime
) -> int | None:
    """How many the campaign may send on the day of ``moment``; None: no limit."""
    campaign_limit = options.daily_limit
    if not numbers:
        return campaign_limit * max(1, len(options.apps)) if campaign_limit else None
    total = 0
    for number in numbers:
        zone = ZoneInfo(number.timezone)
        day = moment.astimezone(zone).date()
        limit = number.limit_on(day)
        if limit is not None and day == now.astimezone(zone).date():
            limit = max(0, limit - number.taken_today)
        room = min(campaign_limit or math.inf, math.inf if limit is None else limit)
        if room == math.inf:
            return None
        total += room
    return int(total)


def _window_closes(window: SendWindow | None, begin: datetime) -> datetime:
    """When the window open at ``begin`` closes (far ahead when it never does)."""
    if window is None or window.start == window.end:
        return begin + HORIZON
    local = begin.astimezone(ZoneInfo(window.timezone))
    closes = datetime.combine(local.date(), window.end, tzinfo=local.tzinfo)
    return closes if closes > local else closes + timedelta(days=1)
