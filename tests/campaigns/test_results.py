import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select, update

from tests.campaigns.conftest import PHONES
from tests.factories import mark_recipients
from webapp.campaigns import service
from webapp.models import Contact, Recipient
from webapp.results.queries import result_tables, results_page, results_total

SENT_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture
def campaign(session, new_campaign):
    """Started: the first sent, the second being sent, the third opted out, the fourth failed."""
    campaign_id = new_campaign()
    service.start_campaign(session, campaign_id)
    session.commit()
    mark_recipients(
        campaign_id,
        [PHONES[0]],
        "sent",
        message="Hi",
        message_id="3EB0FF94",
        gateway_status="1",
        sent_at=SENT_AT,
    )
    mark_recipients(campaign_id, [PHONES[1]], "sending")
    mark_recipients(campaign_id, [PHONES[3]], "failed", error="Not on WhatsApp")
    return service.get_campaign(session, campaign_id)


def phones_and_statuses(rows):
    return [(row.phone, row.status) for row in rows]


def test_all_results_in_list_order_with_the_contacts_fields(session, campaign):
    rows = results_page(session, campaign.id, limit=10)
    assert phones_and_statuses(rows) == [
        (PHONES[0], "sent"),
        (PHONES[1], "pending"),  # being sent: still pending to people
        (PHONES[2], "skipped"),
        (PHONES[3], "failed"),
    ]
    sent = rows[0]
    assert (sent.message_id, sent.gateway_status, sent.sent_at, sent.attempts) == (
        "3EB0FF94",
        "1",
        SENT_AT,
        1,
    )
    assert sent.fields == {"Имя": "Анна"}
    assert (rows[2].error, rows[3].error) == (service.OPTED_OUT, "Not on WhatsApp")
    assert results_total(session, campaign) == 4


@pytest.mark.parametrize(
    ("status", "phones"),
    [
        ("sent", [PHONES[0]]),
        ("pending", [PHONES[1]]),
        ("skipped", [PHONES[2]]),
        ("failed", [PHONES[3]]),
        ("unknown", []),
    ],
)
def test_a_status_filter_and_its_total(session, campaign, status, phones):
    rows = results_page(session, campaign.id, status=status, limit=10)
    assert [row.phone for row in rows] == phones
    assert results_total(session, campaign, status=status) == len(phones)


@pytest.mark.parametrize(
    ("search", "status", "phones"),
    [
        ("5551", None, PHONES),
        ("55102", None, [PHONES[2]]),
        ("Олег", None, [PHONES[2]]),
        ("ann", None, []),
        ("Мария", "failed", [PHONES[3]]),
        ("Мария", "sent", []),
        ("%", None, []),
    ],
)
def test_search_finds_phones_and_fields(session, campaign, search, status, phones):
    rows = results_page(session, campaign.id, status=status, search=search, limit=10)
    assert [row.phone for row in rows] == phones
    assert results_total(session, campaign, status=status, search=search) == len(phones)


def test_pages_follow_each_other(session, campaign):
    first = results_page(session, campaign.id, limit=3)
    second = results_page(session, campaign.id, limit=3, offset=3)
    assert [row.phone for row in first + second] == PHONES
    assert results_page(session, campaign.id, limit=3, offset=100) == []


@pytest.mark.parametrize(
    ("status", "search"),
    [
        (None, ""),
        ("pending", ""),
        ("failed", ""),
        (None, "Мария"),
    ],
)
def test_an_export_reads_what_the_pages_show_in_the_same_order(session, campaign, status, search):
    tables = result_tables(session, campaign.id, status=status, search=search, size=2)
    exported = [
        row for table in tables for row in table.select(["id", "phone", "status"]).to_pylist()
    ]
    shown = results_page(session, campaign.id, status=status, search=search, limit=10)
    assert exported == [{"id": str(r.id), "phone": r.phone, "status": r.status} for r in shown]


def test_an_export_searches_for_quotes_and_wildcards_as_plain_text(session, campaign):
    # On PostgreSQL the search is written into the export's SQL: quoted there, never run.
    odd = "O'Brien 100% _ '); DELETE FROM recipients; --"
    third = session.scalars(
        select(Recipient.contact_id).filter_by(campaign_id=campaign.id, phone=PHONES[2])
    ).one()
    session.execute(
        update(Contact).where(Contact.id == third).values(fields_json=json.dumps({"Имя": odd}))
    )
    session.commit()

    def exported(search: str) -> list[str]:
        tables = result_tables(session, campaign.id, search=search)
        return [phone for table in tables for phone in table["phone"].to_pylist()]

    assert exported(odd) == exported("Brien 100%") == [PHONES[2]]
    assert exported("%") == [PHONES[2]]  # the sign itself, no wildcard
    assert exported("O_Brien") == exported("100%%") == []
    assert len(exported("")) == len(PHONES)


def test_an_export_keeps_every_text_as_stored_and_a_gone_contacts_fields_empty(session, campaign):
    text = 'кавычки " и \\ обратная черта,\nстрока\tтаб \x07 эмодзи 😀 {"json": [1]}'
    session.execute(  # the failed one's texts, as a gateway might have answered
        update(Recipient)
        .where(Recipient.campaign_id == campaign.id, Recipient.phone == PHONES[3])
        .values(message=text, error=text)
    )
    first = session.scalars(
        select(Recipient).filter_by(campaign_id=campaign.id).order_by(Recipient.id)
    ).first()
    session.execute(delete(Contact).where(Contact.id == first.contact_id))
    session.commit()

    (table,) = result_tables(session, campaign.id)

    rows = table.to_pylist()
    assert (rows[0]["phone"], rows[0]["fields_json"]) == (PHONES[0], "{}")
    assert (rows[-1]["message"], rows[-1]["error"], rows[-1]["attempts"]) == (text, text, "1")
    assert rows[0]["sent_at"].startswith("2026-11-27 09:30:00")  # UTC
