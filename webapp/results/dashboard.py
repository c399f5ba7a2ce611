"""Figures for the dashboard: first steps, campaigns in progress, today's outcomes, messages over
time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..campaigns.statuses import OUTCOMES, CampaignStatus, RecipientStatus
from ..models import Campaign, ContactList, OutcomeTally

ACTIVE_STATUSES = (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)
CHART_DAYS = 14
CHART_HOURS = 24


@dataclass(frozen=True)
class Activity:
    labels: list[str]
    sent: list[int]
    failed: list[int]


@dataclass(frozen=True)
class FirstSteps:
    """What a newcomer has done of the way to a first campaign."""

    gateway_connected: bool
    list_uploaded: bool
    test_sent: bool
    launched: bool
    draft_id: int | None
    """The newest draft, where the test send and the launch are one click away."""

    @property
    def done(self) -> bool:
        return self.gateway_connected and self.list_uploaded and self.test_sent and self.launched


def first_steps(session: Session, *, gateway_connected: bool, test_sent: bool) -> FirstSteps:
    """The first-steps checklist; what only the settings know is passed in."""
    draft_id = session.scalar(
        select(Campaign.id)
        .where(Campaign.status == CampaignStatus.DRAFT)
        .order_by(Campaign.id.desc())
        .limit(1)
    )
    return FirstSteps(
        gateway_connected=gateway_connected,
        list_uploaded=session.scalar(select(ContactList.id).limit(1)) is not None,
        test_sent=test_sent,
        # Launching creates the recipients; a draft cancelled before that launched nothing.
        launched=session.scalar(select(Campaign.id).where(Campaign.count_total > 0).limit(1))
        is not None,
        draft_id=draft_id,
    )


def has_messages(session: Session) -> bool:
    """Whether any message has ever had an outcome: before that a chart shows only zeros."""
    return session.scalar(select(OutcomeTally.hour).limit(1)) is not None


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
            OutcomeTally.hour >= since,
            OutcomeTally.status.in_((RecipientStatus.SENT, RecipientStatus.FAILED)),
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
        sent=[counts.get((day, RecipientStatus.SENT), 0) for day in days],
        failed=[counts.get((day, RecipientStatus.FAILED), 0) for day in days],
    )


def hourly_activity(session: Session, timezone: str, now: datetime) -> Activity:
    """Messages sent and failed in each of the last ``CHART_HOURS`` hours."""
    zone = ZoneInfo(timezone)
    last = now.replace(minute=0, second=0, microsecond=0)
    hours = [last - timedelta(hours=n) for n in range(CHART_HOURS - 1, -1, -1)]
    rows = session.execute(
        select(OutcomeTally.hour, OutcomeTally.status, OutcomeTally.count).where(
            OutcomeTally.hour >= hours[0],
            OutcomeTally.status.in_((RecipientStatus.SENT, RecipientStatus.FAILED)),
        )
    )
    counts = {(hour, status): count for hour, status, count in rows}
    return Activity(
        labels=[f"{hour.astimezone(zone):%H:00}" for hour in hours],
        sent=[counts.get((hour, RecipientStatus.SENT), 0) for hour in hours],
        failed=[counts.get((hour, RecipientStatus.FAILED), 0) for hour in hours],
    )
