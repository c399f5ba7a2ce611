import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.campaigns.conftest import PHONES
from tests.factories import make_list, mark_recipients, set_campaign_status
from webapp.account_settings import set_setting
from webapp.campaigns import service
from webapp.campaigns.service import CampaignConflict, CampaignError, CampaignNotFound
from webapp.extensions import db
from webapp.models import Campaign, Recipient


def recipients(session, campaign_id):
    rows = session.execute(
        select(Recipient.phone, Recipient.status, Recipient.error)
        .where(Recipient.campaign_id == campaign_id)
        .order_by(Recipient.id)
    )
    return [tuple(row) for row in rows]


def options(session, campaign_id):
    return json.loads(service.get_campaign(session, campaign_id).options_json)


# Creating and editing


def test_a_new_campaign_is_a_draft_with_the_account_defaults_for_absent_options(
    session, new_campaign
):
    set_setting("sending_defaults", {"rate_per_minute": 5, "daily_limit": 300})
    session.commit()
    campaign_id = new_campaign(template="Привет,\r\n{{ имя }}!", daily_limit=None)
    campaign = service.get_campaign(session, campaign_id)
    assert campaign.status == "draft"
    assert campaign.template == "Привет,\n{{ имя }}!"
    stored = options(session, campaign_id)
    assert stored["rate_per_minute"] == 5  # the account's default
    assert stored["daily_limit"] is None  # an explicit null: no limit
    assert stored["send_window"]["timezone"] == "Europe/Moscow"  # built in


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"list_id": "1"}, "list_id"),
        ({"list_id": True}, "list_id"),
        ({"list_id": 999}, "list_id"),
        ({"list_id": 10**30}, "list_id"),
        ({"template": ""}, "template"),
        ({"template": ["Hi"]}, "template"),
        ({"template": "Hi {Имя}"}, "template"),
        ({"rate_per_minute": "fast"}, "rate_per_minute"),
        ({"delay_min_s": 10, "delay_max_s": 5}, "delay_max_s"),
        ({"send_window": {"start": "9"}}, "send_window"),
        ({"start_at": "tomorrow"}, "start_at"),
        ({"daily_limit": 0}, "daily_limit"),
    ],
)
def test_create_refuses_bad_values_naming_the_field(session, new_campaign, values, field):
    with pytest.raises(CampaignError) as refused:
        new_campaign(**values)
    assert refused.value.status == 422
    assert refused.value.details["field"] == field
    session.rollback()
    assert session.scalar(select(Campaign.id)) is None


def test_an_unknown_column_is_refused_with_the_known_columns_and_where(session, new_campaign):
    with pytest.raises(CampaignError) as refused:
        new_campaign(template="Добрый день, {{ Фамилия }}")
    assert str(refused.value).startswith('Unknown column "Фамилия" at line 1, character 14.')
    assert refused.value.details["known_columns"] == ["Телефон", "Имя"]
    assert refused.value.details["position"] == 13


def test_a_draft_can_change_everything_and_options_not_given_stay(session, new_campaign):
    campaign_id = new_campaign(rate_per_minute=10, delay_min_s=2, delay_max_s=4)
    other = make_list(["79243555199"], [{"Город": "Тула"}], phone_column="Номер")
    campaign = service.update_campaign(
        session,
        campaign_id,
        {"name": "Зима", "list_id": other.id, "template": "Из {{ Город }}", "delay_max_s": 8},
    )
    assert (campaign.name, campaign.list_id, campaign.template) == (
        "Зима",
        other.id,
        "Из {{ Город }}",
    )
    stored = options(session, campaign_id)
    assert (stored["rate_per_minute"], stored["delay_min_s"], stored["delay_max_s"]) == (10, 2, 8)


def test_changing_the_list_checks_the_template_against_the_new_columns(session, new_campaign):
    campaign_id = new_campaign(template="Привет, {{ Имя }}")
    other = make_list(["79243555199"], [{"Город": "Тула"}])
    with pytest.raises(CampaignError) as refused:
        service.update_campaign(session, campaign_id, {"list_id": other.id})
    assert refused.value.details["known_columns"] == ["Телефон", "Город"]


def test_a_paused_campaign_changes_only_its_sending_options(session, new_campaign):
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    service.pause_campaign(session, campaign_id)
    session.commit()
    campaign = service.update_campaign(
        session, campaign_id, {"name": "Осень", "rate_per_minute": 3}
    )  # the same name, sent back as read, is fine
    assert options(session, campaign.id)["rate_per_minute"] == 3
    with pytest.raises(CampaignConflict) as refused:
        service.update_campaign(session, campaign_id, {"template": "Другой текст"})
    assert refused.value.details == {"field": "template"}


@pytest.mark.parametrize("status", ["scheduled", "running", "completed", "cancelled"])
def test_only_drafts_and_paused_campaigns_can_be_edited(session, new_campaign, status):
    campaign_id = new_campaign()
    set_campaign_status(campaign_id, status)
    with pytest.raises(CampaignConflict):
        service.update_campaign(session, campaign_id, {"rate_per_minute": 3})


# Starting


def test_start_makes_one_recipient_per_contact_and_skips_those_who_opted_out(session, new_campaign):
    campaign_id = new_campaign()
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    campaign = service.start_campaign(session, campaign_id, now)
    session.commit()
    assert (campaign.status, campaign.started_at) == ("running", now)
    assert recipients(session, campaign_id) == [
        (PHONES[0], "pending", None),
        (PHONES[1], "pending", None),
        (PHONES[2], "skipped", service.OPTED_OUT),
        (PHONES[3], "pending", None),
    ]
    assert service.counts(campaign) == {
        "total": 4,
        "pending": 3,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "skipped": 1,
    }


def test_start_with_start_at_ahead_schedules_the_campaign(session, new_campaign):
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    later = new_campaign(start_at=(now + timedelta(hours=2)).isoformat())
    earlier = new_campaign(start_at=(now - timedelta(hours=2)).isoformat())
    scheduled = service.start_campaign(session, later, now)
    assert (scheduled.status, scheduled.started_at, scheduled.count_pending) == (
        "scheduled",
        None,
        3,
    )
    assert service.start_campaign(session, earlier, now).status == "running"


def test_a_campaign_starts_once(session, new_campaign):
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    session.commit()
    with pytest.raises(CampaignConflict):
        service.start_campaign(session, campaign_id)
    assert len(recipients(session, campaign_id)) == 4


def test_start_refuses_an_empty_list_and_a_template_that_no_longer_fits(session, new_campaign):
    empty = make_list([])
    with pytest.raises(CampaignError) as refused:
        service.start_campaign(session, new_campaign(list_id=empty.id))
    assert (refused.value.status, refused.value.message) == (422, service.EMPTY_LIST)

    campaign_id = new_campaign(template="Привет, {{ Имя }}")
    contact_list = service.get_campaign(session, campaign_id).contact_list
    contact_list.columns_json = json.dumps(["Телефон"])
    session.commit()
    with pytest.raises(CampaignError) as refused:
        service.start_campaign(session, campaign_id)
    assert refused.value.details["field"] == "template"
    assert service.get_campaign(session, campaign_id).status == "draft"


def test_two_simultaneous_starts_make_the_recipients_once(app, session, new_campaign, monkeypatch):
    campaign_id = new_campaign()
    # Both requests pass the status check before either writes.
    both_checked = threading.Barrier(2)
    options_of = service.campaign_options

    def checked_then_wait(campaign):
        both_checked.wait(timeout=10)
        return options_of(campaign)

    monkeypatch.setattr(service, "campaign_options", checked_then_wait)
    outcomes = []

    def start():
        with app.app_context():
            try:
                service.start_campaign(db.session, campaign_id)
                db.session.commit()
                outcomes.append("started")
            except CampaignConflict:
                db.session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "started"]
    assert len(recipients(session, campaign_id)) == 4
    assert service.get_campaign(session, campaign_id).count_total == 4


# Pausing, resuming, cancelling

TRANSITIONS = {
    "start": (service.start_campaign, {"draft": "running"}),
    "pause": (service.pause_campaign, {"running": "paused", "scheduled": "paused"}),
    "resume": (service.resume_campaign, {"paused": "running"}),
    "cancel": (
        service.cancel_campaign,
        {s: "cancelled" for s in ("draft", "scheduled", "running", "paused")},
    ),
}


@pytest.mark.parametrize("status", service.STATUSES)
@pytest.mark.parametrize("action", TRANSITIONS)
def test_each_action_moves_only_the_statuses_the_lifecycle_allows(
    session, new_campaign, action, status
):
    campaign_id = new_campaign()
    if status != "draft":
        service.start_campaign(session, campaign_id)
        session.commit()
        set_campaign_status(campaign_id, status)
    function, moves = TRANSITIONS[action]
    if status in moves:
        assert function(session, campaign_id).status == moves[status]
    else:
        with pytest.raises(CampaignConflict):
            function(session, campaign_id)
        session.rollback()
        assert service.get_campaign(session, campaign_id).status == status


@pytest.mark.parametrize("action", [*TRANSITIONS, "retry"])
def test_actions_on_a_missing_campaign_are_not_found(session, action):
    function = service.retry_campaign if action == "retry" else TRANSITIONS[action][0]
    args = (["failed"],) if action == "retry" else ()
    with pytest.raises(CampaignNotFound):
        function(session, 42, *args)


def test_pause_says_a_user_paused_and_resume_clears_the_reason(session, new_campaign):
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    paused = service.pause_campaign(session, campaign_id)
    assert (paused.pause_code, paused.pause_detail) == ("user", None)
    set_campaign_status(
        campaign_id, "paused", pause_code="balance", pause_detail="Blocking a client by balance"
    )
    resumed = service.resume_campaign(session, campaign_id)
    assert (resumed.status, resumed.pause_code, resumed.pause_detail) == ("running", None, None)


def test_a_paused_campaign_whose_start_is_ahead_resumes_to_scheduled(session, new_campaign):
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    campaign_id = new_campaign(start_at=(now + timedelta(days=1)).isoformat())
    service.start_campaign(session, campaign_id, now)
    service.pause_campaign(session, campaign_id)
    assert service.resume_campaign(session, campaign_id, now).status == "scheduled"
    service.pause_campaign(session, campaign_id)
    resumed = service.resume_campaign(session, campaign_id, now + timedelta(days=2))
    assert (resumed.status, resumed.started_at) == ("running", now + timedelta(days=2))


def test_cancel_skips_whom_nobody_messaged_and_leaves_the_one_being_sent(session, new_campaign):
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    session.commit()
    mark_recipients(campaign_id, [PHONES[0]], "sent")
    mark_recipients(campaign_id, [PHONES[1]], "sending")
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    campaign = service.cancel_campaign(session, campaign_id, now)
    session.commit()
    assert (campaign.status, campaign.finished_at) == ("cancelled", now)
    assert recipients(session, campaign_id) == [
        (PHONES[0], "sent", None),
        (PHONES[1], "sending", None),
        (PHONES[2], "skipped", service.OPTED_OUT),
        (PHONES[3], "skipped", service.CANCELLED),
    ]
    assert service.counts(campaign) == {
        "total": 4,
        "pending": 1,
        "sent": 1,
        "failed": 0,
        "unknown": 0,
        "skipped": 2,
    }


# Retrying


@pytest.fixture
def finished_campaign(session, new_campaign):
    """A completed campaign: one sent, one failed, one unknown, one opted out."""
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    session.commit()
    mark_recipients(campaign_id, [PHONES[0]], "sent")
    later = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    mark_recipients(
        campaign_id, [PHONES[1]], "failed", error="Not on WhatsApp", next_attempt_at=later
    )
    mark_recipients(campaign_id, [PHONES[3]], "unknown", error="No answer")
    set_campaign_status(campaign_id, "completed", finished_at=later)
    return campaign_id


def test_retry_puts_the_chosen_statuses_back_to_pending_and_runs_again(session, finished_campaign):
    campaign = service.retry_campaign(session, finished_campaign, ["failed"])
    session.commit()
    assert (campaign.status, campaign.finished_at) == ("running", None)
    assert service.counts(campaign) == {
        "total": 4,
        "pending": 1,
        "sent": 1,
        "failed": 0,
        "unknown": 1,
        "skipped": 1,
    }
    retried = session.execute(
        select(Recipient).where(Recipient.campaign_id == finished_campaign)
    ).scalars()
    by_phone = {r.phone: r for r in retried}
    assert (by_phone[PHONES[1]].status, by_phone[PHONES[1]].error) == ("pending", None)
    assert by_phone[PHONES[1]].next_attempt_at is None
    assert (by_phone[PHONES[3]].status, by_phone[PHONES[3]].error) == ("unknown", "No answer")


def test_retry_in_a_paused_campaign_keeps_it_paused(session, finished_campaign):
    set_campaign_status(finished_campaign, "paused", pause_code="user")
    campaign = service.retry_campaign(
        session, finished_campaign, ["failed", "unknown"], confirmed=True
    )
    assert (campaign.status, campaign.count_pending, campaign.count_failed) == ("paused", 2, 0)


@pytest.mark.parametrize("statuses", [[], ["sent"], ["failed", "pending"], "everything", None, 1])
def test_retry_takes_only_failed_and_unknown(session, finished_campaign, statuses):
    with pytest.raises(CampaignError) as refused:
        service.retry_campaign(session, finished_campaign, statuses)
    assert (refused.value.status, refused.value.details) == (422, {"field": "status"})


def test_retrying_unknown_needs_a_confirmation_that_says_what_it_risks(session, finished_campaign):
    with pytest.raises(service.RetryNeedsConfirmation) as refused:
        service.retry_campaign(session, finished_campaign, ["failed", "unknown"])
    assert (refused.value.status, refused.value.count) == (409, 1)
    assert refused.value.details == {"confirm_required": True, "unknown": 1}
    assert "may already have the message" in str(refused.value)
    session.rollback()
    campaign = service.get_campaign(session, finished_campaign)
    assert (campaign.status, campaign.count_unknown, campaign.count_failed) == ("completed", 1, 1)

    campaign = service.retry_campaign(session, finished_campaign, ["unknown"], confirmed=True)
    assert (campaign.status, campaign.count_unknown, campaign.count_pending) == ("running", 0, 1)


def test_retry_is_refused_while_running_and_when_nothing_has_the_status(session, finished_campaign):
    service.retry_campaign(session, finished_campaign, ["unknown"], confirmed=True)
    session.commit()
    with pytest.raises(CampaignConflict) as refused:
        service.retry_campaign(session, finished_campaign, ["failed"])
    assert refused.value.message == service.RETRY_REFUSED
    set_campaign_status(finished_campaign, "completed")
    with pytest.raises(CampaignConflict) as refused:
        service.retry_campaign(session, finished_campaign, ["unknown"], confirmed=True)
    assert refused.value.message == service.NOTHING_TO_RETRY


# Test messages


def test_a_test_message_is_the_first_contacts_text_to_the_given_phone(session, new_campaign):
    campaign_id = new_campaign(template="{{ Имя }}, {{ Телефон }}", app=[3, 5])
    test = service.prepare_test(session, campaign_id, "8 (924) 355-51-99")
    assert test == service.PreparedTest("79243555199", "Анна, 79243555100", 3)


@pytest.mark.parametrize("phone", ["", "12", "abc", None, True, ["79243555199"]])
def test_a_test_message_needs_a_mobile_number(session, new_campaign, phone):
    with pytest.raises(CampaignError) as refused:
        service.prepare_test(session, new_campaign(), phone)
    assert refused.value.details == {"field": "phone"}


def test_an_unknown_template_format_is_refused_like_an_unknown_column(session, new_campaign):
    with pytest.raises(CampaignError) as refused:
        new_campaign(template='Ждём вас {{ Имя | даты "D MMMM" }}')
    assert str(refused.value).startswith('Unknown format "даты" at line 1, character 10.')
    assert refused.value.details["position"] == 9
    session.rollback()
    assert session.scalar(select(Campaign.id)) is None
