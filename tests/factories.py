"""Test data; call inside an app context. Each commits.

Lists and opt-outs are made straight through the models; campaigns only through the service,
as people make them (``make_campaign``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import update

from webapp.account_settings import sending_defaults
from webapp.campaigns import service
from webapp.campaigns.statuses import RecipientStatus
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    Contact,
    ContactList,
    OptOut,
    utcnow,
)
from webapp.sending.sender import Update
from webapp.sending.store import SqlStore

# mark_recipients claims as one sender would; the same owner every time, so what one call left
# ``sending`` is still its own claim at the next call, not a crashed sender's.
SENDER = "tests/factories"
LEASE_S = 60.0
MAX_CLAIM = 1_000_000


def make_list(
    phones: Sequence[str],
    fields: Sequence[Mapping[str, str]] | None = None,
    *,
    name: str = "Клиенты",
    phone_column: str = "Телефон",
) -> ContactList:
    """A contact list of ``phones`` in order, ``fields[i]`` being the other columns of row i."""
    fields = fields or [{} for _ in phones]
    columns = [phone_column, *dict.fromkeys(key for row in fields for key in row)]
    contact_list = ContactList(
        name=name,
        columns_json=json.dumps(columns, ensure_ascii=False),
        phone_column=phone_column,
        contact_count=len(phones),
    )
    db.session.add(contact_list)
    db.session.flush()
    db.session.add_all(
        Contact(
            list_id=contact_list.id,
            row=row,
            phone=phone,
            fields_json=json.dumps(dict(values), ensure_ascii=False),
        )
        for row, (phone, values) in enumerate(zip(phones, fields, strict=True), start=2)
    )
    db.session.commit()
    return contact_list


def make_campaign(
    list_id: int,
    template: str = "Привет",
    *,
    name: str = "Осень",
    start: bool = False,
    created_by_id: int | None = None,
    defaults: Mapping[str, object] | None = None,
    **options: object,
) -> int:
    """A draft made by the service with ``options``, the others from ``defaults`` (the
    account's when None); started (its recipients materialized) when ``start``. Returns its id."""
    campaign = service.create_campaign(
        db.session,
        {"name": name, "list_id": list_id, "template": template, **options},
        defaults=sending_defaults() if defaults is None else defaults,
        created_by_id=created_by_id,
    )
    if start:
        service.start_campaign(db.session, campaign.id)
    db.session.commit()
    return campaign.id


def make_opt_outs(*phones: str) -> None:
    db.session.add_all(OptOut(phone=phone) for phone in phones)
    db.session.commit()


def mark_recipients(campaign_id: int, phones: Iterable[str], status: str, **answer: object) -> None:
    """Take ``phones`` of a running campaign through the sender's store: claimed (``sending``)
    and, unless ``status`` is ``sending``, answered with ``status`` and ``answer`` (fields of
    ``Update``). The store keeps the counts and the tallies, as it does for the sender."""
    db.session.commit()  # the store writes in transactions of its own
    wanted, now = set(phones), utcnow()
    store = SqlStore(db.engine)
    assert store.take_lease(campaign_id, SENDER, now, LEASE_S), "the campaign is not running"
    claimed = store.claim(campaign_id, SENDER, MAX_CLAIM, now, LEASE_S)
    answers = [
        Update(c.id, status, c.app, **answer)
        for c in claimed
        if c.phone in wanted and status != RecipientStatus.SENDING
    ]
    # The others go back as the sender gives back what it claimed and did not send.
    refunds = [
        Update(c.id, RecipientStatus.PENDING, refund=True) for c in claimed if c.phone not in wanted
    ]
    store.record(campaign_id, SENDER, answers + refunds, now)
    store.release_lease(campaign_id, SENDER)
    db.session.expire_all()


def set_campaign_status(campaign_id: int, status: str, **values: object) -> None:
    """Move a campaign as the sender would (say, running → completed)."""
    db.session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(status=status, **values)
    )
    db.session.commit()


def audit_events(action: str | None = None) -> list[AuditEvent]:
    """The audit trail, oldest first, of one ``action`` or of all."""
    query = db.select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def audit_trail(action: str | None = None) -> list[tuple]:
    """(action, actor e-mail, address, target type, target id, details) of each event."""
    return [
        (e.action, e.actor_email, e.ip, e.target_type, e.target_id, json.loads(e.details_json))
        for e in audit_events(action)
    ]
