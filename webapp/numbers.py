"""WhatsApp numbers: one pace and one daily limit per number, across campaigns and processes.

A number is a linked WhatsApp connection of the gateway (its ``app`` id), or the implicit
default one (no ``app`` sent). What WhatsApp watches is the number, so its ceiling and daily
limit are kept in the database and taken in the transaction that claims recipients:

* the pace is a GCRA: ``next_free_at`` is the number's next free slot; a claim takes the slot
  ``max(next_free_at, now)`` and moves it on by one interval;
* the daily limit is a counter per number and day (the number's time zone): a claim counts
  the call, a refused one gives its place back, an ``unknown`` one keeps it (it may be sent).

The functions take a SQLAlchemy ``Connection`` inside the caller's transaction and never
commit; the planning and warm-up arithmetic is pure.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, select, text, update

from .campaigns.eta import NumberCapacity
from .campaigns.options import App
from .campaigns.statuses import OUTCOMES, CampaignStatus, RecipientStatus
from .i18n import N_
from .models import Campaign, NumberDay, Setting, WhatsAppNumber
from .windows import DEFAULT_TIMEZONE, local_day, next_day_start

numbers = WhatsAppNumber.__table__
number_days = NumberDay.__table__

DEFAULT_KEY = "default"
HISTORY_DAYS = 14
FIELDS = ("label", "rate_per_minute", "daily_limit", "warmup", "paused")

# Why a campaign waits for its numbers, as its page says it (``until``: when it goes on).
WAIT_PAUSED = "numbers_paused"
WAIT_DAILY_LIMIT = "numbers_daily_limit"
WAIT_REASONS = {
    WAIT_PAUSED: N_("Waiting: every WhatsApp number of this campaign is paused."),
    WAIT_DAILY_LIMIT: N_(
        "Waiting until %(until)s: the WhatsApp numbers of this campaign have reached their "
        "daily limit."
    ),
}


def waiting_code(campaign: Campaign) -> str | None:
    """Why a running campaign now waits for its numbers (a ``WAIT_REASONS`` key), or None."""
    reason = campaign.waiting_reason
    return reason if campaign.status == CampaignStatus.RUNNING and reason in WAIT_REASONS else None


class NumberError(ValueError):
    """A value a number cannot take; ``message`` is for people (translated by the caller)."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        super().__init__(f"{field}: {message % params if params else message}")
        self.field = field
        self.message = message
        self.params = params


def number_key(app: App) -> str:
    return DEFAULT_KEY if app is None else str(app)


def app_of_key(key: str) -> App:
    """The app id a key names; ``NumberError`` for anything but ``default`` or an id."""
    if key == DEFAULT_KEY:
        return None
    if not key.isascii() or not key.isdigit() or len(key) > 9:
        raise NumberError("app", N_("A WhatsApp number is its app id, or default."))
    return int(key)


def warmup_limit(start: int, growth_percent: float, days: int, daily_limit: int | None) -> int:
    """The limit ``days`` after a warm-up began: ``start`` grown by ``growth_percent`` a day."""
    grown = start * (1 + growth_percent / 100) ** max(days, 0)
    if daily_limit is not None and grown >= daily_limit:
        return daily_limit
    return math.floor(grown + 1e-9)


def limit_on(row: Any, day: date) -> int | None:
    """A number's daily limit on ``day`` (None: no limit), warm-up included."""
    if row.warmup_start is None or row.warmup_since is None:
        return row.daily_limit
    days = (day - row.warmup_since).days
    return warmup_limit(row.warmup_start, row.warmup_growth_percent or 0, days, row.daily_limit)


@dataclass
class NumberState:
    """One number as a claim sees it, under its row lock."""

    key: str
    app: App
    interval_s: float
    limit: int | None
    taken: int
    paused: bool
    next_free_at: datetime | None
    day: date
    timezone: str

    @property
    def room(self) -> float:
        return math.inf if self.limit is None else max(0, self.limit - self.taken)


@dataclass(frozen=True)
class Slot:
    app: App
    at: datetime
    day: date
    """The number's day the call counts on."""
    interval_s: float = 0.0
    """The number's least gap between two calls (0: no pace)."""


def plan_slots(
    states: Sequence[NumberState],
    count: int,
    now: datetime,
    not_before: datetime,
    gap_s: float,
    horizon_s: float,
    lead_s: float = 0.0,
) -> list[Slot]:
    """Up to ``count`` slots, each from the number free soonest (most room on a tie).

    A campaign's own pace keeps its slots ``gap_s`` apart from ``not_before`` on; slots later
    than ``horizon_s`` from ``now`` are not taken. A paced number's slot is ``lead_s`` ahead at
    least: the claim's answer must come back before it, or the call would come late, close to
    the next slot another process took. Moves the states on.
    """
    slots: list[Slot] = []
    earliest = max(now, not_before)
    ready = now + timedelta(seconds=lead_s)

    def slot_of(state: NumberState) -> datetime:
        at = max(earliest, state.next_free_at or earliest)
        return max(at, ready) if state.interval_s else at

    for _ in range(count):
        open_ = [s for s in states if not s.paused and s.room > 0]
        if not open_:
            break
        # On a tie the one that sent least today: unlimited numbers take turns.
        best = min(open_, key=lambda s: (slot_of(s), -s.room, s.taken))
        at = slot_of(best)
        if (at - now).total_seconds() > horizon_s:
            break
        slots.append(Slot(best.app, at, best.day, best.interval_s))
        best.next_free_at = at + timedelta(seconds=best.interval_s)
        best.taken += 1
        earliest = at + timedelta(seconds=gap_s)
    return slots


def why_waiting(states: Sequence[NumberState], now: datetime) -> tuple[str, datetime | None]:
    """Why none of ``states`` can send, and until when (None: until someone resumes one)."""
    exhausted = [s for s in states if not s.paused]
    if not exhausted:
        return WAIT_PAUSED, None
    return WAIT_DAILY_LIMIT, min(next_day_start(now, s.timezone) for s in exhausted)


def next_free(states: Sequence[NumberState]) -> datetime | None:
    """The soonest slot of a number that may send today."""
    times = [s.next_free_at for s in states if not s.paused and s.room > 0 and s.next_free_at]
    return min(times, default=None)


@dataclass(frozen=True)
class Taken:
    """What a claim got of its numbers."""

    slots: list[Slot]
    waiting: str | None = None
    """``WAIT_PAUSED`` or ``WAIT_DAILY_LIMIT`` when no number may send today."""
    until: datetime | None = None
    """When none was free: when to try again (None: once someone resumes a number)."""


def take_slots(
    conn: Connection,
    caps: Mapping[App, int | None],
    count: int,
    now: datetime,
    *,
    not_before: datetime | None = None,
    gap_s: float = 0.0,
    horizon_s: float = math.inf,
    lead_s: float = 0.0,
) -> Taken:
    """Take up to ``count`` slots of the numbers of ``caps`` in the caller's transaction.

    ``caps`` holds, for each number a campaign may use, how many more it may send today by
    the campaign's own limit (None: no limit of its own); the stricter limit wins.
    """
    states = lock_states(conn, list(caps), now)
    if len(states) < len(caps):
        ensure_numbers(conn, caps)
        states = lock_states(conn, list(caps), now)
    for state in states:
        cap = caps.get(state.app)
        if cap is not None:
            state.limit = min(state.taken + cap, math.inf if state.limit is None else state.limit)
    slots = plan_slots(states, count, now, not_before or now, gap_s, horizon_s, lead_s)
    save_slots(conn, states, slots)
    if slots or not count:
        return Taken(slots)
    free = next_free(states)
    if free is not None:
        return Taken([], until=free)
    reason, until = why_waiting(states, now)
    return Taken([], reason, until)


def capacities(
    conn: Connection, apps: Sequence[App], now: datetime, campaign_id: int | None = None
) -> list[NumberCapacity]:
    """What the numbers of ``apps`` leave a campaign, for its estimate: each number's ceiling
    shared evenly with the other running campaigns that send from it."""
    wanted = {number_key(app) for app in apps or (None,)}
    users: Counter[str] = Counter()
    for other_id, options_json in conn.execute(
        select(Campaign.id, Campaign.options_json).where(Campaign.status == CampaignStatus.RUNNING)
    ):
        if other_id != campaign_id:
            named = json.loads(options_json).get("app")
            others = named if isinstance(named, list) else [named]
            users.update({number_key(app) for app in others} & wanted)
    result = []
    for row in conn.execute(select(numbers).where(numbers.c.key.in_(wanted))):
        day = local_day(now, row.timezone)
        taken = conn.scalar(
            select(number_days.c.taken).where(
                number_days.c.key == row.key, number_days.c.day == day
            )
        )
        rate = row.rate_per_minute and row.rate_per_minute / (1 + users[row.key])
        result.append(NumberCapacity(rate, partial(limit_on, row), taken or 0, row.timezone))
    return result


def number_defaults(conn: Connection) -> dict[str, Any]:
    """What a number first named by a campaign starts with (the settings' ``number_defaults``)."""
    saved = conn.scalar(select(Setting.value).where(Setting.key == "number_defaults"))
    given = json.loads(saved) if saved else {}
    return {
        "rate_per_minute": given.get("rate_per_minute"),
        "daily_limit": given.get("daily_limit"),
    }


def ensure_numbers(conn: Connection, apps: Iterable[App]) -> None:
    """Create the numbers among ``apps`` not known yet, with the defaults from settings."""
    wanted = {number_key(app): app for app in apps}
    known = set(conn.scalars(select(numbers.c.key).where(numbers.c.key.in_(wanted))))
    missing = [key for key in wanted if key not in known]
    if missing:
        defaults = number_defaults(conn)
        # Another transaction may be adding the same number: the first one wins.
        conn.execute(
            _ADD_NUMBER,
            [
                {"key": key, "app": wanted[key], "timezone": DEFAULT_TIMEZONE, **defaults}
                for key in missing
            ],
        )


def lock_states(conn: Connection, apps: Sequence[App], now: datetime) -> list[NumberState]:
    """The numbers of ``apps`` locked for this transaction (in key order), with today's count."""
    rows = conn.execute(
        select(numbers)
        .where(numbers.c.key.in_([number_key(app) for app in apps]))
        .order_by(numbers.c.key)
        .with_for_update()
    ).all()
    states = []
    for row in rows:
        day = local_day(now, row.timezone)
        taken = conn.scalar(
            select(number_days.c.taken).where(
                number_days.c.key == row.key, number_days.c.day == day
            )
        )
        states.append(
            NumberState(
                key=row.key,
                app=row.app,
                interval_s=60 / row.rate_per_minute if row.rate_per_minute else 0.0,
                limit=limit_on(row, day),
                taken=taken or 0,
                paused=row.paused,
                next_free_at=row.next_free_at,
                day=day,
                timezone=row.timezone,
            )
        )
    return states


def save_slots(conn: Connection, states: Sequence[NumberState], slots: Sequence[Slot]) -> None:
    """Store the numbers' next free slots and count the calls the slots are for."""
    used = {number_key(slot.app) for slot in slots}
    for state in states:
        if state.key in used:
            conn.execute(
                update(numbers)
                .where(numbers.c.key == state.key)
                .values(next_free_at=state.next_free_at)
            )
    _add_days(
        conn,
        Counter((number_key(slot.app), slot.day) for slot in slots),
        "taken",
    )


@dataclass(frozen=True)
class Settled:
    """A claimed call's end, for its number's counters."""

    app: App
    claimed_at: datetime | None
    status: str
    """sent | unknown | failed | refused (not sent, place given back) | interrupted."""
    error: str | None = None


def settle(conn: Connection, settled: Sequence[Settled], now: datetime) -> None:
    """Count ends of claimed calls on the day each was claimed; refused ones give it back."""
    if not settled:
        return
    # Numbers are locked before their days, in key order, as claims lock them.
    zones = dict(
        conn.execute(
            select(numbers.c.key, numbers.c.timezone)
            .where(numbers.c.key.in_({number_key(s.app) for s in settled}))
            .order_by(numbers.c.key)
            .with_for_update()
        ).all()
    )
    counts: dict[str, Counter[tuple[str, date]]] = {
        name: Counter() for name in ("taken", "sent", "failed", "unknown")
    }
    for s in settled:
        key = number_key(s.app)
        if key not in zones or s.claimed_at is None:
            continue  # claimed before numbers were counted: it holds no place
        day = local_day(s.claimed_at, zones[key])
        if s.status in (RecipientStatus.FAILED, "refused"):
            counts["taken"][key, day] -= 1
        if s.status in OUTCOMES:
            counts[s.status][key, day] += 1
    for name, counter in counts.items():
        _add_days(conn, counter, name)
    sent = {number_key(s.app) for s in settled if s.status == RecipientStatus.SENT}
    for key in sent & zones.keys():
        conn.execute(update(numbers).where(numbers.c.key == key).values(last_sent_at=now))
    for s in settled:
        if s.status != RecipientStatus.SENT and s.error and number_key(s.app) in zones:
            conn.execute(
                update(numbers).where(numbers.c.key == number_key(s.app)).values(last_error=s.error)
            )


def pause_number(conn: Connection, app: App, reason: str | None) -> None:
    """Rest a number whose calls fail for reasons of its own; the reason is shown."""
    conn.execute(
        update(numbers)
        .where(numbers.c.key == number_key(app))
        .values(paused=True, pause_reason=reason, last_error=reason)
    )


_ADD_NUMBER = text(
    "INSERT INTO whatsapp_numbers (key, app, label, rate_per_minute, daily_limit, timezone, paused)"
    " VALUES (:key, :app, '', :rate_per_minute, :daily_limit, :timezone, false)"
    " ON CONFLICT (key) DO NOTHING"
)
_COLS = ("taken", "sent", "failed", "unknown")
# Both SQLite and PostgreSQL speak this upsert.
_ADD_DAY = {
    column: text(
        f"INSERT INTO number_days (key, day, taken, sent, failed, unknown)"
        f" VALUES (:key, :day, {', '.join(':n' if c == column else '0' for c in _COLS)})"
        f" ON CONFLICT (key, day) DO UPDATE SET {column} = number_days.{column} + excluded.{column}"
    )
    for column in _COLS
}


def _add_days(conn: Connection, counts: Mapping[tuple[str, date], int], column: str) -> None:
    rows = [{"key": k, "day": d, "n": n} for (k, d), n in sorted(counts.items()) if n]
    if rows:
        conn.execute(_ADD_DAY[column], rows)


def describe(row: Any, today: Mapping[str, int]) -> dict[str, Any]:
    """A number in the API's shape."""
    warmup = (
        {"start": row.warmup_start, "growth_percent": row.warmup_growth_percent}
        if row.warmup_start is not None
        else None
    )
    return {
        "app": row.app,
        "label": row.label,
        "rate_per_minute": row.rate_per_minute,
        "daily_limit": row.daily_limit,
        "warmup": warmup,
        "paused": row.paused,
        "pause_reason": row.pause_reason,
        "sent_today": today.get("sent", 0),
        "failed_today": today.get("failed", 0),
        "unknown_today": today.get("unknown", 0),
        "last_error": row.last_error,
        "last_sent_at": row.last_sent_at and row.last_sent_at.isoformat(),
    }


def list_numbers(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every number, the default first, with today's figures and today's limit."""
    ensure_numbers(conn, [None])  # the implicit default number always exists
    rows = conn.execute(select(numbers).order_by(numbers.c.app.is_not(None), numbers.c.app)).all()
    result = []
    for row in rows:
        day = local_day(now, row.timezone)
        figures = conn.execute(
            select(number_days).where(number_days.c.key == row.key, number_days.c.day == day)
        ).first()
        today = figures._asdict() if figures else {}
        result.append({**describe(row, today), "limit_today": limit_on(row, day)})
    return result


def linked_apps(conn: Connection) -> list[dict[str, Any]]:
    """The numbers with an app id, ``{"id", "label"}``, for choosing a campaign's numbers."""
    rows = conn.execute(
        select(numbers.c.app, numbers.c.label)
        .where(numbers.c.app.is_not(None))
        .order_by(numbers.c.app)
    )
    return [{"id": app, "label": label} for app, label in rows]


def history(conn: Connection, key: str, now: datetime) -> list[dict[str, Any]]:
    """The last ``HISTORY_DAYS`` days of a number, oldest first, days without calls included."""
    zone = conn.scalar(select(numbers.c.timezone).where(numbers.c.key == key))
    last = local_day(now, zone or DEFAULT_TIMEZONE)
    first = last - timedelta(days=HISTORY_DAYS - 1)
    rows = {
        row.day: row
        for row in conn.execute(
            select(number_days).where(number_days.c.key == key, number_days.c.day >= first)
        )
    }
    days = []
    for offset in range(HISTORY_DAYS):
        day = first + timedelta(days=offset)
        row = rows.get(day)
        days.append(
            {
                "day": day,
                "sent": row.sent if row else 0,
                "failed": row.failed if row else 0,
                "unknown": row.unknown if row else 0,
            }
        )
    return days


def update_number(
    conn: Connection, key: str, given: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Change a number's settings from ``given`` (any of ``FIELDS``); the number after."""
    app = app_of_key(key)
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise NumberError(unknown[0], N_("Unknown field."))
    values = _validated(given)
    ensure_numbers(conn, [app])
    row = conn.execute(select(numbers).where(numbers.c.key == key).with_for_update()).one()
    if "warmup" in given:
        warmup = given["warmup"]
        values["warmup_start"] = warmup and warmup["start"]
        values["warmup_growth_percent"] = warmup and float(warmup["growth_percent"])
        changed = warmup and (
            row.warmup_start != warmup["start"]
            or row.warmup_growth_percent != float(warmup["growth_percent"])
        )
        if changed or not warmup:
            values["warmup_since"] = warmup and local_day(now, row.timezone)
    if values.get("paused") is False:
        values["pause_reason"] = None
    if values:
        conn.execute(update(numbers).where(numbers.c.key == key).values(**values))
    return next(n for n in list_numbers(conn, now) if number_key(n["app"]) == key)


def _validated(given: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "label" in given:
        label = given["label"]
        if not isinstance(label, str) or len(label) > 200:
            raise NumberError("label", N_("The label is text of at most 200 characters."))
        values["label"] = label.strip()
    if "rate_per_minute" in given:
        rate = given["rate_per_minute"]
        if rate is not None and not (_is_number(rate) and 0 < rate <= 100_000):
            raise NumberError(
                "rate_per_minute", N_("The rate must be above zero, or empty for no limit.")
            )
        values["rate_per_minute"] = None if rate is None else float(rate)
    if "daily_limit" in given:
        values["daily_limit"] = _whole("daily_limit", given["daily_limit"], optional=True)
    if "warmup" in given:
        warmup = given["warmup"]
        if warmup is not None:
            if not isinstance(warmup, dict) or set(warmup) != {"start", "growth_percent"}:
                raise NumberError(
                    "warmup", N_('Give the warm-up as {"start": 10, "growth_percent": 20}.')
                )
            _whole("warmup", warmup["start"], optional=False)
            growth = warmup["growth_percent"]
            if not (_is_number(growth) and 0 <= growth <= 1000):
                raise NumberError("warmup", N_("The daily growth is a percentage from 0 to 1000."))
    if "paused" in given:
        if not isinstance(given["paused"], bool):
            raise NumberError("paused", N_("Paused is true or false."))
        values["paused"] = given["paused"]
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(field: str, value: Any, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
        raise NumberError(field, N_("Enter a whole number above zero."))
    return value
