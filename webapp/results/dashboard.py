"""Figures for the dashboard: campaigns in progress, today's outcomes, messages over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Campaign, OutcomeTally

ACTIVE_STATUSES = ("running", "scheduled", "paused")
OUTCOMES = ("sent", "failed", "unknown")
CHART_DAYS = 14
CHART_HOURS = 24


@dataclass(frozen=True)
class Activity:
    labels: list[str]
    sent: list[int]
    failed: list[int]


def active_campaigns(session: Session) -> list[Campaign]:
    """Campaigns that are sending, waiting to start or paused, newest first."""
    query = (
        select(Campaign).where(Campaign.status.in_(ACTIVE_STATUSES)).order_by(Campaign.id.desc())
    )
    return list(session.scalars(query))


def today_totals(session: Session, timezone: str, now: datetime) -> dict[str, int]:
    """Recipients whose outcome came today (in ``timezone``), by outcome."""
    start = now.astimezone(ZoneInfo(timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = session.execute(
        select(OutcomeTally.status, func.sum(OutcomeTally.count))
        .where(OutcomeTally.hour >= start, OutcomeTally.status.in_(OUTCOMES))
        .group_by(OutcomeTally.status)
    )
    return {status: 0 for status in OUTCOMES} | {status: int(n) for status, n in rows}


def daily_activity(session: Session, timezone: str, now: datetime) -> Activity:
    """Messages sent and failed on each of the last ``CHART_DAYS`` days (local days)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=zone)
    rows = session.execute(
        select(OutcomeTally.hour, OutcomeTally.status, OutcomeTally.count).where(
            OutcomeTally.hour >= since, OutcomeTally.status.in_(("sent", "failed"))
        )
    )
    # Tallies are per UTC hour, so they fold into local days exactly in every zone whose
    # offset is whole hours (all of Russia's).
    counts: dict[tuple, int] = {}
    for hour, status, count in rows:
        key = (hour.astimezone(zone).date(), status)
        counts[key] = counts.get(key, 0) + count
    return Activity(
        labels=[f"{day:%d.%m}" for day in days],
        sent=[counts.get((day, "sent"), 0) for day in days],
        failed=[counts.get((day, "failed"), 0) for day in days],
    )


def hourly_activity(session: Session, timezone: str, now: datetime) -> Activity:
    """Messages sent and failed in each of the last ``CHART_HOURS`` hours."""
    zone = ZoneInfo(timezone)
    last = now.replace(minute=0, second=0, microsecond=0)
    hours = [last - timedelta(hours=n) for n in range(CHART_HOURS - 1, -1, -1)]
    rows = session.execute(
        select(OutcomeTally.hour, OutcomeTally.status, OutcomeTally.count).where(
            OutcomeTally.hour >= hours[0], OutcomeTally.status.in_(("sent", "failed"))
        )
    )
    counts = {(hour, status): count for hour, status, count in rows}
    return Activity(
        labels=[f"{hour.astimezone(zone):%H:00}" for hour in hours],
        sent=[counts.get((hour, "sent"), 0) for hour in hours],
        failed=[counts.get((hour, "failed"), 0) for hour in hours],
    )
