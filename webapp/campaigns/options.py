"""A campaign's sending options: parsed from API/form input, checked, and stored as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..i18n import N_, UserError
from ..windows import DEFAULT_TIMEZONE, SendWindow
from .reminders import Schedule, ScheduleError, parse_schedule

App = int | None
"""A linked WhatsApp account of the gateway; None: the gateway's only one (no ``app`` sent)."""

OPTION_NAMES = (
    "rate_per_minute",
    "delay_min_s",
    "delay_max_s",
    "app",
    "send_window",
    "start_at",
    "daily_limit",
    "schedule",
)

# What a new account starts with: a humane pace inside civil hours, Moscow time.
BUILT_IN_DEFAULTS: dict[str, Any] = {
    "rate_per_minute": 20,
    "delay_min_s": None,
    "delay_max_s": None,
    "app": None,
    "send_window": {"start": "09:00", "end": "21:00", "timezone": DEFAULT_TIMEZONE},
    "start_at": None,
    "daily_limit": None,
    "schedule": None,
}


class OptionsError(UserError, ValueError):
    """An option that cannot be used; ``message`` is an untranslated text for people."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message, params, field=field)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {super().__str__()}"


@dataclass(frozen=True)
class SendingOptions:
    rate_per_minute: float | None
    delay_min_s: float | None
    delay_max_s: float | None
    apps: tuple[int, ...]
    """Linked WhatsApp accounts to rotate; empty: the gateway's only one (no ``app`` sent)."""
    send_window: SendWindow | None
    start_at: datetime | None
    daily_limit: int | None
    schedule: Schedule | None = None
    """Each recipient's own send time from a column of the list; None: all at once."""

    @property
    def timezone(self) -> str:
        """The campaign's time zone: its send window's."""
        return self.send_window.timezone if self.send_window else DEFAULT_TIMEZONE

    def to_dict(self) -> dict[str, Any]:
        """The options in the API's shape (also how they are stored)."""
        window = self.send_window
        return {
            "rate_per_minute": self.rate_per_minute,
            "delay_min_s": self.delay_min_s,
            "delay_max_s": self.delay_max_s,
            "app": (self.apps[0] if len(self.apps) == 1 else list(self.apps))
            if self.apps
            else None,
            "send_window": window
            and {
                "start": window.start.strftime("%H:%M"),
                "end": window.end.strftime("%H:%M"),
                "timezone": window.timezone,
            },
            "start_at": self.start_at and self.start_at.isoformat(),
            "daily_limit": self.daily_limit,
            "schedule": self.schedule and self.schedule.to_dict(),
        }


def parse_options(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> SendingOptions:
    """Options from ``given``, an absent one taken from ``defaults``; raises OptionsError."""
    merged = {name: given[name] if name in given else defaults.get(name) for name in OPTION_NAMES}
    delay_min = _number(merged, "delay_min_s", minimum=0) or None
    delay_max = _number(merged, "delay_max_s", minimum=0) or None
    if delay_min is not None and delay_max is None:
        delay_max = delay_min
    if delay_max is not None and (delay_min or 0) > delay_max:
        raise OptionsError(
            "delay_max_s", N_("The longest pause must not be shorter than the shortest.")
        )
    rate = _number(merged, "rate_per_minute", minimum=0)
    if rate == 0:
        raise OptionsError(
            "rate_per_minute", N_("The rate must be above zero, or empty for no limit.")
        )
    daily_limit = merged["daily_limit"]
    if daily_limit is not None and (
        isinstance(daily_limit, bool) or not isinstance(daily_limit, int) or daily_limit < 1
    ):
        raise OptionsError("daily_limit", N_("The daily limit must be a whole number above zero."))
    return SendingOptions(
        rate_per_minute=rate,
        delay_min_s=delay_min,
        delay_max_s=delay_max,
        apps=_apps(merged["app"]),
        send_window=_send_window(merged["send_window"]),
        start_at=_start_at(merged["start_at"]),
        daily_limit=daily_limit,
        schedule=_schedule(merged["schedule"]),
    )


def _number(options: Mapping[str, Any], name: str, *, minimum: float) -> float | None:
    value = options[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise OptionsError(name, N_("Enter a number not below %(minimum)s."), minimum=minimum)
    return float(value)


def _apps(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [] if value is None else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise OptionsError("app", N_("WhatsApp account ids are whole numbers."))
    return tuple(dict.fromkeys(values))


def _send_window(value: Any) -> SendWindow | None:
    if value is None:
        return None
    try:
        return SendWindow.from_dict(value)
    except ZoneInfoNotFoundError:
        raise OptionsError("send_window", N_("Unknown time zone.")) from None
    except (TypeError, KeyError, ValueError, AttributeError):
        raise OptionsError(
            "send_window", N_('Give the window as {"start": "09:00", "end": "21:00"}.')
        ) from None


def _schedule(value: Any) -> Schedule | None:
    try:
        return parse_schedule(value)
    except ScheduleError as error:
        raise OptionsError("schedule", error.args[0]) from None


def _start_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise OptionsError("start_at", N_("Give the start time as ISO 8601.")) from None
    # A time without a zone is taken as Moscow time, the zone most users mean.
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(DEFAULT_TIMEZONE))
