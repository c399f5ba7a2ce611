"""Starting a reminder campaign: each recipient's due time, skipped ones with why, the counts."""

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from tests.factories import make_campaign, make_list, make_opt_outs
from webapp.campaigns import service
from webapp.campaigns.service import CampaignError
from webapp.models import Campaign, Contact, Recipient

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
REMIND = {"column": "Визит", "rule": "before", "days": 1, "at": "10:00"}
VISITS = {
    "79000000001": "03.12.2026 09:30",
    "79000000002": "2026-12-05",
    "79000000003": "когда-нибудь",
    "79000000004": "01.12.2026 15:00",  # tomorrow's reminder was due yesterday
    "79000000005": "04.12.2026 12:00",
}


@pytest.fixture
def visits(session):
    make_opt_outs("79000000005")
    return make_list(list(VISITS), [{"Имя": "Анна", "Визит": v} for v in VISITS.values()])


def started(session, contact_list, **schedule):
    campaign_id = make_campaign(contact_list.id, "Ждём вас", schedule={**REMIND, **schedule})
    service.start_campaign(session, campaign_id, NOW)
    session.commit()
    rows = session.execute(
        select(Recipient.phone, Recipient.status, Recipient.error, Recipient.due_at)
        .where(Recipient.campaign_id == campaign_id)
        .order_by(Recipient.id)
    )
    return service.get_campaign(session, campaign_id), {row.phone: tuple(row)[1:] for row in rows}


def test_each_recipient_gets_the_due_time_of_their_own_visit(session, visits):
    campaign, recipients = started(session, visits)
    assert recipients == {
        "79000000001": ("pending", None, datetime(2026, 12, 2, 7, 0, tzinfo=UTC)),
        "79000000002": ("pending", None, datetime(2026, 12, 4, 7, 0, tzinfo=UTC)),
        "79000000003": ("skipped", "The date or time of the visit cannot be read", None),
        "79000000004": ("skipped", "Time passed", None),
        "79000000005": ("skipped", "Opted out", datetime(2026, 12, 3, 7, 0, tzinfo=UTC)),
    }
    assert campaign.status == "running"
    assert service.counts(campaign) == {
        "total": 5,
        "pending": 2,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "skipped": 3,
    }


def test_late_ones_go_at_once_within_the_grace_period(session, visits):
    _, recipients = started(session, visits, late={"grace_hours": 24})
    assert recipients["79000000004"] == (
        "pending",
        None,
        datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
    )


def test_a_schedule_names_a_column_of_the_list(session, visits):
    with pytest.raises(CampaignError) as refused:
        make_campaign(visits.id, "Ждём вас", schedule={**REMIND, "column": "Дата"})
    assert refused.value.details["field"] == "schedule"
    assert refused.value.params == {"column": "Дата"}


def test_the_preview_shows_each_due_time(session, visits):
    campaign_id = make_campaign(visits.id, "Ждём вас", schedule={**REMIND, "late": "skip"})
    preview = service.preview(session, campaign_id, limit=10, offset=0)
    assert preview.items[2].due.error == "The date or time of the visit cannot be read"
    assert all(item.due is not None for item in preview.items)


def test_the_timeline_counts_reminders_by_day_then_later_ones_together(session):
    visits = ["02.12.2026 12:00", "03.12.2026 12:00", "03.12.2026 15:00", "31.12.2026 12:00"]
    contact_list = make_list(
        [f"7900000002{n}" for n in range(4)], [{"Визит": visit} for visit in visits]
    )
    campaign, _ = started(session, contact_list, days=0, at=None, hours=2)

    timeline = service.timeline(session, campaign, NOW)

    assert (timeline.sent, timeline.due_today) == (0, 0)
    assert timeline.upcoming == [(date(2026, 12, 2), 1), (date(2026, 12, 3), 2)]
    assert timeline.later == 1
    assert service.campaign_eta(campaign, NOW) == datetime(2026, 12, 31, 7, 0, tzinfo=UTC)
    assert (
        service.timeline(session, campaign, datetime(2026, 12, 3, 10, 0, tzinfo=UTC)).due_today == 3
    )


def test_a_paused_reminder_campaign_keeps_its_schedule(session, visits):
    campaign, _ = started(session, visits)
    service.pause_campaign(session, campaign.id)
    service.update_campaign(session, campaign.id, {"rate_per_minute": 5, "schedule": REMIND})
    with pytest.raises(service.CampaignConflict) as refused:
        service.update_campaign(session, campaign.id, {"schedule": {**REMIND, "days": 2}})
    assert refused.value.details["field"] == "schedule"


def test_rows_added_to_a_completed_campaign_run_it_again(session, visits):
    campaign, _ = started(session, visits)
    session.execute(update(Campaign).values(status="completed", finished_at=NOW))
    added = service.add_recipients(
        session, campaign.id, [{"Телефон": "79000000031", "Визит": "09.12.2026 12:00"}], NOW
    )
    assert (added.added, added.skipped, added.duplicates, added.rejected) == (1, 0, 0, [])
    campaign = service.get_campaign(session, campaign.id)
    assert (campaign.status, campaign.finished_at, campaign.count_pending) == ("running", None, 3)


def test_a_due_time_outside_the_send_window_is_moved_and_remembered(session, visits):
    # Two hours before a 09:30 visit is 07:30, before the 09:00–21:00 window opens.
    campaign, recipients = started(session, visits, days=0, at=None, hours=2)
    assert recipients["79000000001"][2] == datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # 09:00
    service.add_recipients(
        session,
        campaign.id,
        [
            {"Телефон": "79000000031", "Визит": "09.12.2026 08:00"},
            {"Телефон": "79000000032", "Визит": "09.12.2026 12:00"},
        ],
        NOW,
    )
    moved = dict(
        session.execute(
            select(Recipient.phone, Recipient.due_moved).where(Recipient.campaign_id == campaign.id)
        ).all()
    )
    assert moved == {
        "79000000001": True,
        "79000000002": True,  # a date without a time is at midnight
        "79000000003": False,
        "79000000004": False,
        "79000000005": False,
        "79000000031": True,
        "79000000032": False,
    }


def test_a_list_repeating_a_phone_and_visit_reminds_once(session):
    # A list rows were added to may repeat a phone: once per due time, skipped rows all shown.
    phones = ["79000000001"] * 5 + ["79000000002"]
    visits = [*["03.12.2026 09:30"] * 2, "04.12.2026 09:30", *["когда-нибудь"] * 2, "03.12.2026"]
    contact_list = make_list(phones, [{"Имя": str(n), "Визит": v} for n, v in enumerate(visits)])
    campaign, _ = started(session, contact_list)
    rows = session.execute(
        select(Recipient.phone, Recipient.status, Recipient.due_at, Contact.fields_json)
        .join(Contact, Contact.id == Recipient.contact_id)
        .where(Recipient.campaign_id == campaign.id)
        .order_by(Recipient.id)
    ).all()
    assert [(phone, status, json.loads(fields)["Имя"]) for phone, status, _, fields in rows] == [
        ("79000000001", "pending", "0"),
        ("79000000001", "pending", "2"),
        ("79000000001", "skipped", "3"),
        ("79000000001", "skipped", "4"),
        ("79000000002", "pending", "5"),
    ]
    assert (campaign.count_total, campaign.count_pending) == (5, 3)
