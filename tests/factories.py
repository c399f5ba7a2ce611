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
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    Contact,
    ContactList,
    OptOut,
    OutcomeTally,
    Recipient,
    utcnow,
)


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
    **options: object,
) -> int:
    """A draft made by the service with the account's default options (or ``options``);
    started (its recipients materialized) when ``start``. Returns its id."""
    campaign = service.create_campaign(
        db.session,
        {"name": name, "list_id": list_id, "template": template, **options},
        defaults=sending_defaults(),
        created_by_id=created_by_id,
    )
    if start:
        service.start_campaign(db.session, campaign.id)
    db.session.commit()
    return campaign.id


def make_opt_outs(*phones: str) -> None:
    db.session.add_all(OptOut(phone=phone) for phone in phones)
    db.session.commit()


def mark_recipients(campaign_id: int, phones: Iterable[str], status: str, **values: object) -> None:
    """Do what the sender does when it is done with ``phones``: their status and the counts."""
    for phone in phones:
        recipient = db.session.execute(
            db.select(Recipient).filter_by(campaign_id=campaign_id, phone=phone)
        ).scalar_one()
        # count_pending includes the recipients being sent.
        old, new = (
            f"count_{'pending' if s == 'sending' else s}" for s in (recipient.status, status)
        )
        if old != new:
            db.session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values({old: getattr(Campaign, old) - 1, new: getattr(Campaign, new) + 1})
            )
        recipient.status = status
        for name, value in values.items():
            setattr(recipient, name, value)
        if status in ("sent", "failed", "unknown", "skipped"):
            tally_outcome(status)
    db.session.commit()


def tally_outcome(status: str, count: int = 1) -> None:
    """Count an outcome in this hour's tally, as the sender does."""
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    tally = db.session.get(OutcomeTally, (hour, status)) or OutcomeTally(hour=hour, status=status)
    tally.count = (tally.count or 0) + count
    db.session.add(tally)


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
