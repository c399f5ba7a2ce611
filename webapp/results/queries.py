"""Recipients of a campaign with their contact's fields: filtered by status, searched, paged.

Fast on a million recipients: a status filter walks the (campaign_id, status, id) index, a page
picks its ids from the index before reading rows (so a deep offset skips index entries, not
joined rows), totals come from the campaign's count columns unless a search needs a COUNT, and
exports read everything in batches by id.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from ..campaigns.statuses import COUNTED, RecipientStatus
from ..models import Campaign, Contact, Recipient

RESULT_STATUSES = COUNTED
# A recipient in "sending" is between its claim and the gateway's answer; people see it as
# pending, as ``count_pending`` does.
_STORED_STATUSES = {RecipientStatus.PENDING: (RecipientStatus.PENDING, RecipientStatus.SENDING)}


_RESULT_COLUMNS = (
    Recipient.id,
    Recipient.phone,
    case(
        (Recipient.status == RecipientStatus.SENDING, RecipientStatus.PENDING),
        else_=Recipient.status,
    ),
    Recipient.message,
    Recipient.message_id,
    Recipient.gateway_status,
    Recipient.error,
    Recipient.attempts,
    Recipient.sent_at,
)
# The recipient's columns of result_tables, before its fields.
EXPORT_COLUMNS = [
    *("id", "phone", "status", "message", "message_id", "gateway_status", "error", "attempts"),
    "sent_at",
]


@dataclass(frozen=True, slots=True)
class ResultRow:
    id: int
    phone: str
    status: str
    message: str | None
    message_id: str | None
    gateway_status: str | None
    error: str | None
    attempts: int
    sent_at: datetime | None
    fields: dict[str, Any]


def results_page(
    session: Session,
    campaign_id: int,
    *,
    status: str | None = None,
    search: str = "",
    limit: int,
    offset: int = 0,
) -> list[ResultRow]:
    """Recipients in list order (by status first when filtering), ``status`` one of
    ``RESULT_STATUSES``, ``search`` a substring of the phone or of any field."""
    order = (Recipient.id,) if status is None else (Recipient.status, Recipient.id)
    page_ids = (
        _filtered(select(Recipient.id), campaign_id, _stored(status), search)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return _rows(session, page_ids, order)


def result_tables(
    session: Session,
    campaign_id: int,
    fields: Sequence[str],
    *,
    status: str | None = None,
    search: str = "",
    size: int = 10_000,
) -> Iterator[pa.Table]:
    """What ``results_page`` pages through, in its order, as Arrow tables of about ``size`` rows:
    text columns ``EXPORT_COLUMNS`` then ``fields.NAME`` for each of the contacts' ``fields``
    (null when a contact lacks it or is gone); ``sent_at`` is UTC text.

    Streamed from one query per stored status (each walks an index in id order), for exports of
    any size in constant memory. The database writes each row as a line of JSON that Arrow
    parses a batch at a time: Python handles one string a row, never a cell.
    """
    connection = session.connection()
    line = _json_line(connection.dialect.name)
    row = pa.struct([(name, pa.string()) for name in EXPORT_COLUMNS])
    contact = pa.struct([(name, pa.string()) for name in fields])
    schema = pa.schema([("row", row), ("fields", contact)] if fields else [("row", row)])
    names = [*EXPORT_COLUMNS, *(f"fields.{name}" for name in fields)]
    for statuses in [None] if status is None else [(s,) for s in _stored(status)]:
        query = select(line).select_from(Recipient)
        if not search:  # a search joins the contacts itself
            query = query.outerjoin(Contact, Contact.id == Recipient.contact_id)
        query = _filtered(query, campaign_id, statuses, search).order_by(Recipient.id)
        result = connection.execution_options(stream_results=True, yield_per=size).execute(query)
        for lines in result.scalars().partitions():
            yield _json_table(lines, schema).flatten().rename_columns(names)


def _json_line(dialect: str) -> ColumnElement[str]:
    """``{"row": {EXPORT_COLUMNS as text}, "fields": the contact's fields}`` of a recipient."""
    postgres = dialect == "postgresql"
    sent_at = (
        func.to_char(func.timezone("UTC", Recipient.sent_at), "YYYY-MM-DD HH24:MI:SS")
        if postgres
        else type_coerce(Recipient.sent_at, String)  # stored as UTC text: taken as it is
    )
    # Numbers as text too: the JSON reader takes every column as text.
    values = [cast(Recipient.id, String), *_RESULT_COLUMNS[1:-2], cast(Recipient.attempts, String)]
    pairs = [
        part
        for name, value in zip(EXPORT_COLUMNS, [*values, sent_at], strict=True)
        for part in (literal_column(f"'{name}'"), value)
    ]
    row = (func.json_build_object if postgres else func.json_object)(*pairs, type_=String)
    fields = func.coalesce(Contact.fields_json, "{}")  # stored as JSON text: taken as it is
    return literal('{"row":', String) + row + ',"fields":' + fields + "}"


def _json_table(lines: Sequence[str], schema: pa.Schema) -> pa.Table:
    return pa_json.read_json(
        io.BytesIO("\n".join(lines).encode()),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
    )


def results_total(
    session: Session, campaign: Campaign, *, status: str | None = None, search: str = ""
) -> int:
    """How many recipients ``results_page`` pages through."""
    if not search:
        return campaign.count_total if status is None else getattr(campaign, f"count_{status}")
    query = select(func.count()).select_from(Recipient)
    return session.scalar(_filtered(query, campaign.id, _stored(status), search))


def _stored(status: str | None) -> tuple[str, ...] | None:
    return None if status is None else _STORED_STATUSES.get(status, (status,))


def _filtered(
    query: Select,
    campaign_id: int,
    statuses: tuple[str, ...] | None,
    search: str,
) -> Select:
    query = query.where(Recipient.campaign_id == campaign_id)
    if statuses is not None:
        query = query.where(Recipient.status.in_(statuses))
    search = search.replace("\x00", "")  # no database matches it, and PostgreSQL refuses it
    if search:
        # Fields are stored as JSON text, so one substring match covers every column.
        query = query.outerjoin(Contact, Contact.id == Recipient.contact_id).where(
            or_(
                Recipient.phone.contains(search, autoescape=True),
                Contact.fields_json.icontains(search, autoescape=True),
            )
        )
    return query


def _rows(session: Session, ids: Select, order: tuple) -> list[ResultRow]:
    """The rows of the recipients ``ids`` selects: ids first, so skipped rows are never joined."""
    rows = session.execute(
        select(*_RESULT_COLUMNS, Contact.fields_json)
        .outerjoin(Contact, Contact.id == Recipient.contact_id)
        .where(Recipient.id.in_(ids.scalar_subquery()))
        .order_by(*order)
    )
    return [ResultRow(*values, fields=json.loads(fields or "{}")) for *values, fields in rows]
