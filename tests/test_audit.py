"""The audit trail's domain module: events go with the transaction of what they record."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import audit_events
from webapp import audit
from webapp.accounts import create_user
from webapp.extensions import db
from webapp.models import User

ALICE = audit.Actor(user_id=None, email="alice@example.com", ip="203.0.113.7")


@pytest.fixture
def context(app):
    with app.app_context():
        yield


def test_an_event_is_stored_only_with_the_commit_of_its_action(context):
    audit.record(ALICE, "list_deleted", ("contact_list", 7), {"name": "Клиенты"})
    db.session.rollback()  # the deletion failed: no trace of it
    assert audit_events() == []
    audit.record(ALICE, "list_deleted", ("contact_list", 7), {"name": "Клиенты"})
    db.session.commit()
    [event] = audit_events()
    assert (event.actor_email, event.ip, event.action) == (
        "alice@example.com",
        "203.0.113.7",
        "list_deleted",
    )
    assert (event.target_type, event.target_id, audit.details(event)) == (
        "contact_list",
        "7",
        {"name": "Клиенты"},
    )
    assert event.at.tzinfo is not None


def test_a_row_just_added_is_named_by_the_id_it_gets(context):
    user = create_user("bob@example.com", "long enough password")
    audit.record(audit.Actor(), "user_created", ("user", user), audit.user_facts(user))
    db.session.commit()
    [event] = audit_events("user_created")
    assert event.target_id == str(user.id)
    assert audit.details(event) == {"email": "bob@example.com", "role": "member"}
    assert (event.actor_id, event.actor_email, event.ip) == (None, "", "")


@pytest.mark.parametrize(
    ("action", "target"), [("list_removed", None), ("list_deleted", ("spreadsheet", 1))]
)
def test_unknown_actions_and_targets_are_a_programming_error(context, action, target):
    with pytest.raises(ValueError):
        audit.record(ALICE, action, target)


def test_the_trail_outlives_the_user_who_acted(context):
    user = create_user("carol@example.com", "long enough password", role="admin")
    db.session.flush()
    audit.record(audit.Actor.of(user, "198.51.100.1"), "campaign_paused", ("campaign", 3))
    db.session.commit()
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    db.session.expire_all()
    [event] = audit_events()
    assert (event.actor_id, event.actor_email) == (None, "carol@example.com")


def test_events_are_found_by_action_actor_and_time_newest_first(context):
    now = datetime.now(UTC)
    for days_ago, email, action in [
        (3, "alice@example.com", "sign_in"),
        (2, "bob@example.com", "sign_in"),
        (1, "alice@example.com", "opt_out_removed"),
        (0, "alice@example.com", "sign_in"),
    ]:
        event = audit.record(audit.Actor(email=email), action)
        event.at = now - timedelta(days=days_ago)
    db.session.commit()

    def found(**filters) -> list[tuple[str, str]]:
        events = db.session.scalars(audit.events_query(**filters))
        return [(e.actor_email[0], e.action) for e in events]

    assert found() == [
        ("a", "sign_in"),
        ("a", "opt_out_removed"),
        ("b", "sign_in"),
        ("a", "sign_in"),
    ]
    assert found(action="sign_in", actor=" Alice@Example.com ") == [
        ("a", "sign_in"),
        ("a", "sign_in"),
    ]
    window = found(since=now - timedelta(days=2, hours=1), until=now - timedelta(hours=1))
    assert window == [("a", "opt_out_removed"), ("b", "sign_in")]
