"""Recipients of a campaign with their contact's fields: filtered by status, searched, paged.

Fast on a million recipients: a status filter walks the (campaign_id, status, id) index, a page
picks its ids from the index before reading rows (so a deep offset skips index entries, not
joined rows), totals come from the campaign's count columns unless a search needs a COUNT, and
exports read everything in batches by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import adbc_driver_postgresql.dbapi as adbc_postgresql
import psycopg
import pyarrow as pa
from adbc_driver_postgresql import StatementOptions as PostgresOptions
from sqlalchemy import (
    Connection,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from ..campaigns.statuses import COUNTED, RecipientStatus
from ..models import Campaign, Contact, Recipient

RESULT_STATUSES = COUNTED
# What a result row takes in an export read from PostgreSQL, about: batches are sized in bytes.
_ROW_BYTES = 256
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
# The columns of result_tables; a scheduled campaign's end with SCHEDULE_EXPORT_COLUMNS.
EXPORT_COLUMNS = [
    *("id", "phone", "status", "message", "message_id", "gateway_status", "error", "attempts"),
    *("sent_at", "fields_json"),
]
SCHEDULE_EXPORT_COLUMNS = ["due_at", "due_moved"]


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
    due_at: datetime | None
    """A reminder's due time; None outside scheduled campaigns."""
    due_moved: bool | None
    """The send window moved the due time to its next opening."""
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
    *,
    status: str | None = None,
    search: str = "",
    size: int = 10_000,
    scheduled: bool = False,
) -> Iterator[pa.Table]:
    """What ``results_page`` pages through, in its order, as Arrow tables of text columns
    ``EXPORT_COLUMNS`` (and ``SCHEDULE_EXPORT_COLUMNS`` when ``scheduled``) of about ``size``
    rows, streamed from one query per stored status (each walks an index in id order), for
    exports of any size in constant memory.

    ``sent_at`` and ``due_at`` are UTC text, ``fields_json`` the contact's fields ("{}" when it
    is gone), ``due_moved`` "1" or "0". No Python runs per row but SQLite's driver. The
    connection is taken here, so the tables may be read in another thread.
    """
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    names = EXPORT_COLUMNS + (SCHEDULE_EXPORT_COLUMNS if scheduled else [])
    due = (_utc_text(Recipient.due_at, postgres), cast(Recipient.due_moved, Integer))
    columns = [
        *_RESULT_COLUMNS[:-1],
        _utc_text(Recipient.sent_at, postgres),
        func.coalesce(Contact.fields_json, "{}"),
        *(due if scheduled else ()),
    ]
    # Every value as text; on SQLite as its UTF-8 bytes: see _fetched.
    columns = [cast(column, Text if postgres else LargeBinary) for column in columns]
    queries = []
    for statuses in [None] if status is None else [(s,) for s in _stored(status)]:
        query = select(*columns).select_from(Recipient)
        if not search:  # a search joins the contacts itself
            query = query.outerjoin(Contact, Contact.id == Recipient.contact_id)
        queries.append(_filtered(query, campaign_id, statuses, search).order_by(Recipient.id))
    return (_arrow_read if postgres else _fetched)(connection, queries, size, names)


def _fetched(
    connection: Connection, queries: list[Select], size: int, names: list[str]
) -> Iterator[pa.Table]:
    """The queries' rows, their values cast to bytes, by SQLite's own cursor ``size`` at a time.

    The plain cursor spares SQLAlchemy's row objects, and bytes spare decoding to ``str`` and
    encoding back for Arrow: each value costs one small object on its way to a column. (ADBC's
    SQLite driver would skip even that, but it brings a second copy of SQLite into the process,
    and closing its connection drops the file locks that this one's holds.)
    """
    with closing(connection.connection.driver_connection.cursor()) as cursor:
        for query in queries:
            cursor.execute(*_compiled(connection, query))
            while rows := cursor.fetchmany(size):
                columns = [pa.array(column, pa.binary()) for column in zip(*rows, strict=True)]
                yield pa.table([column.cast(pa.string()) for column in columns], names=names)


def _arrow_read(
    connection: Connection, queries: list[Select], size: int, names: list[str]
) -> Iterator[pa.Table]:
    """The queries' rows read by ADBC straight into Arrow, on a PostgreSQL connection of its own
    (it reads what is committed), by COPY in batches of about ``size`` rows.

    ADBC streams a query by COPY only when it has no parameters, so the values are written into
    the SQL, quoted by psycopg as the server expects.
    """
    quoting = psycopg.ClientCursor(connection.connection.driver_connection)
    statements = [quoting.mogrify(*_compiled(connection, query)) for query in queries]
    url = connection.engine.url.set(drivername="postgresql")
    with (
        closing(adbc_postgresql.connect(url.render_as_string(hide_password=False))) as reader,
        closing(reader.cursor()) as cursor,
    ):
        hint = {PostgresOptions.BATCH_SIZE_HINT_BYTES.value: str(size * _ROW_BYTES)}
        cursor.adbc_statement.set_options(**hint)
        for statement in statements:
            cursor.execute(statement)
            for batch in cursor.fetch_record_batch():
                yield pa.table(batch.columns, names=names)


def _compiled(connection: Connection, query: Select) -> tuple[str, Any]:
    """The query's SQL and parameters as the connection's driver takes them."""
    compiled = query.compile(
        dialect=connection.dialect,
        compile_kwargs={"render_postcompile": True},  # IN (...)
    )
    if connection.dialect.name == "postgresql":
        return str(compiled), compiled.params
    return str(compiled), [compiled.params[name] for name in compiled.positiontup]


def _utc_text(moment: Any, postgres: bool) -> Any:
    """A time column as ``YYYY-MM-DD HH:MM:SS[.ffffff]`` UTC text."""
    if postgres:
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD HH24:MI:SS")
    return type_coerce(moment, String)  # stored as UTC text: taken as it is


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
        select(*_RESULT_COLUMNS, Recipient.due_at, Recipient.due_moved, Contact.fields_json)
        .outerjoin(Contact, Contact.id == Recipient.contact_id)
        .where(Recipient.id.in_(ids.scalar_subquery()))
        .order_by(*order)
    )
    return [ResultRow(*values, fields=json.loads(fields or "{}")) for *values, fields in rows]
