"""The sender's SQL: leases, claims, answers and counts, each one committed transaction."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from webapp.extensions import db
from webapp.messages import TemplateError
from webapp.models import OutcomeTally, Recipient
from webapp.sending.sender import INTERRUPTED, Pause, Update

from .conftest import phones, wait_for

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=20)
LEASE_S = 20.0


@pytest.fixture
def leased(make_campaign, store):
    """A running campaign of five recipients leased to "me"."""
    campaign_id = make_campaign(phones(5))
    assert store.take_lease(campaign_id, "me", NOW, LEASE_S) is not None
    return campaign_id


def test_lease_is_taken_once_until_it_expires(make_campaign, store):
    campaign_id = make_campaign(phones(2), rate_per_minute=30, app=[1, 2])

    plan = store.take_lease(campaign_id, "me", NOW, 0.5)

    assert plan.options.rate_per_minute == 30
    assert plan.options.apps == (1, 2)
    assert plan.phone_column == "Телефон"
    assert store.take_lease(campaign_id, "you", NOW, LEASE_S) is None
    assert store.campaigns_to_run(NOW) == []
    wait_for(lambda: store.campaigns_to_run(NOW) == [campaign_id], timeout=10)
    assert store.take_lease(campaign_id, "you", NOW, LEASE_S) is not None
    assert not store.renew_lease(campaign_id, "me", LEASE_S)
    assert store.renew_lease(campaign_id, "you", LEASE_S)


def test_leases_run_on_the_databases_clock(make_campaign, store, read, update_campaign):
    campaign_id = make_campaign(phones(1))
    # The host's clock is not asked: a host whose clock is a year ahead takes no live lease.
    update_campaign(
        campaign_id,
        lease_owner="elsewhere/1",
        lease_expires_at=datetime.now(UTC) + timedelta(seconds=30),
    )
    assert store.take_lease(campaign_id, "me", NOW + timedelta(days=365), LEASE_S) is None
    update_campaign(campaign_id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    before = datetime.now(UTC)

    assert store.take_lease(campaign_id, "me", NOW - timedelta(days=365), LEASE_S)

    expires = read(campaign_id)[0].lease_expires_at
    assert before + timedelta(seconds=LEASE_S - 1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(seconds=LEASE_S + 1)


def test_only_running_campaigns_are_leased(make_campaign, store):
    campaign_id = make_campaign(phones(2), status="paused")
    assert store.take_lease(campaign_id, "me", NOW, LEASE_S) is None
    assert store.campaigns_to_run(NOW) == []


def test_a_template_that_no_longer_fits_its_list_is_refused_and_the_lease_let_go(
    leased, store, read, update_campaign
):
    (claimed,) = store.claim(leased, "me", 1, NOW, LEASE_S)
    update_campaign(
        leased,
        template="{{ Город }}",  # a column the list does not have
        lease_expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )

    with pytest.raises(TemplateError):
        store.take_lease(leased, "you", LATER, LEASE_S)

    campaign, recipients = read(leased)
    assert (campaign.status, campaign.lease_owner) == ("running", None)
    # What "me" left in flight is settled all the same, as when the lease is taken.
    assert (recipients[claimed.phone].status, campaign.count_unknown) == ("unknown", 1)


def test_claim_marks_recipients_sending_before_any_call(app, leased, store, read):
    claimed = store.claim(leased, "me", 3, NOW, LEASE_S)

    assert [c.phone for c in claimed] == phones(3)
    assert [c.attempts for c in claimed] == [1, 1, 1]
    assert '"Имя"' in claimed[0].fields_json
    _, recipients = read(leased)  # read through another connection: committed
    assert [recipients[p].status for p in phones(5)] == ["sending"] * 3 + ["pending"] * 2
    assert {r.claimed_by for r in recipients.values() if r.status == "sending"} == {"me"}
    assert [c.phone for c in store.claim(leased, "me", 10, NOW, LEASE_S)] == phones(5)[3:]
    assert store.claim(leased, "me", 10, NOW, LEASE_S) == []


def test_claim_skips_recipients_not_due_yet(app, leased, store):
    with app.app_context():
        db.session.query(Recipient).filter(Recipient.phone == phones(1)[0]).update(
            {"next_attempt_at": NOW + timedelta(minutes=1)}
        )
        db.session.commit()

    assert phones(1)[0] not in [c.phone for c in store.claim(leased, "me", 10, NOW, LEASE_S)]
    assert store.next_retry_at(leased) == NOW + timedelta(minutes=1)
    later = NOW + timedelta(minutes=1)
    assert [c.phone for c in store.claim(leased, "me", 10, later, LEASE_S)] == phones(1)


def test_claim_refuses_without_the_lease_or_when_paused(leased, store, update_campaign):
    assert store.claim(leased, "you", 10, NOW, LEASE_S) is None
    update_campaign(leased, status="paused", pause_code="user")
    assert store.claim(leased, "me", 10, NOW, LEASE_S) is None


def test_record_writes_answers_and_counts_together(leased, store, read):
    a, b, c, d = store.claim(leased, "me", 4, NOW, LEASE_S)
    store.record(
        leased,
        "me",
        [
            Update(a.id, "sent", 3, "Привет", message_id="X1", gateway_status="1", sent_at=NOW),
            Update(b.id, "failed", None, "Привет", error="Not on WhatsApp"),
            Update(c.id, "unknown", None, "Привет", error="No answer"),
            Update(d.id, "pending", refund=True),
        ],
        NOW,
    )

    campaign, recipients = read(leased)
    rows = [recipients[p] for p in phones(4)]
    assert [(r.status, r.attempts) for r in rows] == [
        ("sent", 1),
        ("failed", 1),
        ("unknown", 1),
        ("pending", 0),
    ]
    assert (rows[0].app, rows[0].message, rows[0].message_id, rows[0].sent_at) == (
        3,
        "Привет",
        "X1",
        NOW,
    )
    assert rows[1].error == "Not on WhatsApp"
    counts = (campaign.count_pending, campaign.count_sent, campaign.count_failed)
    assert counts == (2, 1, 1)
    assert campaign.count_unknown == 1


def test_record_tallies_outcomes_per_hour_for_the_dashboard(app, leased, store):
    a, b, c = store.claim(leased, "me", 3, NOW, LEASE_S)
    store.record(leased, "me", [Update(a.id, "sent", sent_at=NOW), Update(b.id, "sent")], NOW)
    store.record(leased, "me", [Update(c.id, "failed", error="x")], NOW + timedelta(minutes=1))
    with app.app_context():
        tallies = {(t.hour, t.status): t.count for t in db.session.scalars(select(OutcomeTally))}
    assert tallies == {
        (NOW.replace(minute=0, second=0, microsecond=0), "sent"): 2,
        (NOW.replace(minute=0, second=0, microsecond=0), "failed"): 1,
    }


def test_record_ignores_recipients_no_longer_ours(leased, store, read, update_campaign):
    (claimed,) = store.claim(leased, "me", 1, NOW, LEASE_S)
    # The lease ran out and another sender took over: what we left in flight is unknown.
    update_campaign(leased, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    store.take_lease(leased, "you", LATER, LEASE_S)

    store.record(leased, "me", [Update(claimed.id, "sent", sent_at=NOW)], NOW)

    campaign, recipients = read(leased)
    assert (recipients[claimed.phone].status, recipients[claimed.phone].error) == (
        "unknown",
        INTERRUPTED,
    )
    assert (campaign.count_sent, campaign.count_unknown, campaign.count_pending) == (0, 1, 4)


def test_record_pauses_only_a_running_campaign(leased, store, read, update_campaign):
    store.record(leased, "me", [], NOW, Pause("balance", "Blocking a client by balance"))
    campaign, _ = read(leased)
    assert (campaign.status, campaign.pause_code) == ("paused", "balance")
    assert campaign.pause_detail == "Blocking a client by balance"

    update_campaign(leased, status="cancelled", pause_code=None, pause_detail=None)
    store.record(leased, "me", [], NOW, Pause("unauthorized"))
    assert read(leased)[0].status == "cancelled"


def test_complete_only_when_nothing_is_pending_or_sending(leased, store, read):
    claimed = store.claim(leased, "me", 4, NOW, LEASE_S)
    store.record(leased, "me", [Update(c.id, "sent", sent_at=NOW) for c in claimed], NOW)
    assert not store.complete(leased, "me", NOW)  # one still pending
    (last,) = store.claim(leased, "me", 5, NOW, LEASE_S)
    store.record(leased, "me", [Update(last.id, "sent", sent_at=NOW)], NOW)

    assert store.complete(leased, "me", LATER)

    campaign, _ = read(leased)
    assert (campaign.status, campaign.finished_at, campaign.lease_owner) == (
        "completed",
        LATER,
        None,
    )


def test_complete_gives_back_a_claim_whose_answer_was_lost(leased, store, read):
    """A claim committed while its connection broke: never called, so sent later, once."""
    claimed = store.claim(leased, "me", 5, NOW, LEASE_S)
    store.record(leased, "me", [Update(c.id, "sent", sent_at=NOW) for c in claimed[1:]], NOW)

    assert not store.complete(leased, "me", NOW)

    campaign, recipients = read(leased)
    lost = recipients[claimed[0].phone]
    assert (lost.status, lost.attempts, campaign.count_pending) == ("pending", 0, 1)
    assert [c.id for c in store.claim(leased, "me", 5, NOW, LEASE_S)] == [claimed[0].id]


def test_due_scheduled_campaigns_start(make_campaign, store, read):
    soon = make_campaign(phones(1), status="scheduled", start_at=LATER.isoformat())
    now = make_campaign(phones(1, start=9), status="scheduled")

    assert store.campaigns_to_run(NOW) == [now]
    assert read(soon)[0].status == "scheduled"
    assert store.campaigns_to_run(LATER) == [soon, now]
    assert read(soon)[0].status == "running"


def test_sent_today_counts_every_campaign_per_app(make_campaign, store):
    first = make_campaign(phones(3), app=[1, 2])
    second = make_campaign(phones(2, start=50))
    for campaign_id, apps in ((first, [1, 1, 2]), (second, [None, None])):
        store.take_lease(campaign_id, "me", NOW, LEASE_S)
        claimed = store.claim(campaign_id, "me", 5, NOW, LEASE_S)
        updates = [
            Update(c.id, "sent", app, sent_at=NOW) for c, app in zip(claimed, apps, strict=True)
        ]
        store.record(campaign_id, "me", updates, NOW)

    assert store.sent_today([1, 2, 3], NOW - timedelta(hours=1)) == {1: 2, 2: 1}
    assert store.sent_today([None], NOW - timedelta(hours=1)) == {None: 2}
    assert store.sent_today([1], NOW + timedelta(hours=1)) == {}


def test_sqlite_transactions_take_the_write_lock_when_they_begin(app, store):
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    events = []

    def second_writer():
        with store.engine.begin() as conn:
            events.append("second began")
            conn.execute(text("SELECT 1"))

    with store.engine.begin() as conn:
        conn.execute(text("SELECT 1"))  # a read only, yet the lock is held from BEGIN
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.3)
        events.append("first committed")
    thread.join(5)
    assert events == ["first committed", "second began"]


def test_postgres_claims_skip_rows_locked_by_others(leased, store):
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    first = phones(1)[0]
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with store.engine.begin() as conn:
            conn.execute(
                text("SELECT id FROM recipients WHERE phone = :p FOR UPDATE"), {"p": first}
            )
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    try:
        claimed = store.claim(leased, "me", 2, NOW, LEASE_S)
    finally:
        release.set()
        holder.join()
    assert [c.phone for c in claimed] == phones(3)[1:]
