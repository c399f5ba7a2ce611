"""Reading stored lists back: contacts with search and paging, rejects, deletion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from ..i18n import N_, UserError
from ..models import Campaign, Contact, ContactList, ImportReject


class ListInUseError(UserError):
    """Campaigns still refer to the list, so deleting it would lose their results."""

    status = 409

    def __init__(self) -> None:
        super().__init__(N_("This list is used by campaigns: delete or keep them first."))


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


def list_columns(contact_list: ContactList) -> list[str]:
    """All header names of the list's file, in file order, the phone column included."""
    return json.loads(contact_list.columns_json)


def field_columns(contact_list: ContactList) -> list[str]:
    """The columns kept as fields: every column but the phone."""
    return [c for c in list_columns(contact_list) if c != contact_list.phone_column]


def search_contacts(
    session: Session, list_id: int, query: str = "", *, limit: int, offset: int
) -> Page:
    """Contacts in file order whose phone or any field contains ``query``."""
    condition = Contact.list_id == list_id
    if query:
        # Fields are stored as JSON text, so a substring match covers every column at once.
        pattern = f"%{_escape_like(query)}%"
        condition = condition & or_(
            Contact.phone.like(pattern, escape="\\"),
            Contact.fields_json.like(pattern, escape="\\"),
        )
        total = session.scalar(select(func.count()).where(condition))
    else:
        total = session.scalar(select(ContactList.contact_count).where(ContactList.id == list_id))
    rows = session.execute(
        select(Contact.row, Contact.phone, Contact.fields_json)
        .where(condition)
        .order_by(Contact.id)
        .limit(limit)
        .offset(offset)
    )
    items = [
        {"row": row, "phone": phone, "fields": json.loads(fields)} for row, phone, fields in rows
    ]
    return Page(items, total or 0)


def list_rejects(session: Session, list_id: int, *, limit: int, offset: int) -> Page:
    """Rows of the file that were not stored, in file order, with the untranslated reason."""
    condition = ImportReject.list_id == list_id
    total = session.scalar(select(func.count()).where(condition))
    rows = session.execute(
        select(ImportReject.row, ImportReject.kind, ImportReject.value, ImportReject.reason)
        .where(condition)
        .order_by(ImportReject.row, ImportReject.id)
        .limit(limit)
        .offset(offset)
    )
    items = [{"row": r, "kind": k, "value": v, "reason": reason} for r, k, v, reason in rows]
    return Page(items, total or 0)


def delete_list(session: Session, contact_list: ContactList) -> None:
    """Delete the list with its contacts and rejects; refused while campaigns use it."""
    if session.scalar(select(Campaign.id).where(Campaign.list_id == contact_list.id).limit(1)):
        raise ListInUseError()
    for table in (Contact, ImportReject):
        session.execute(delete(table).where(table.list_id == contact_list.id))
    session.delete(contact_list)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
