"""A campaign's recipients with their due times: written in bulk at start, or as rows are added.

Each distinct cell value is read once (visits repeat dates and times). At start the database
lists the distinct values of the list's date (and time) column, their due times go into a
temporary table, and one INSERT ... SELECT joins the contacts to it: starting a list of
100,000 takes about as long as starting it without a schedule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
)

from ..contacts.rows import insert_rows
from ..models import Contact, OptOut, Recipient, UTCDateTime
from .options import SendingOptions
from .reminders import Due
from .statuses import RecipientStatus


@dataclass(frozen=True)
class Person:
    """One row about to become a recipient."""

    phone: str
    fields: dict[str, str]
    """The row's other columns."""
    opted_out: bool
    contact_id: int | None = None


class DueTimes:
    """Due times of a campaign's recipients as of ``now``, each distinct cell value read once."""

    def __init__(self, options: SendingOptions, now: datetime) -> None:
        self.options = options
        self.now = now
        self._known: dict[tuple[str | None, str | None], Due] = {}

    def of(self, fields: dict[str, str]) -> Due | None:
        """The due time for a contact's fields; None when the campaign has no schedule."""
        schedule = self.options.schedule
        if schedule is None:
            return None
        time_cell = fields.get(schedule.time_column) if schedule.time_column else None
        return self.at(fields.get(schedule.column) or "", time_cell or "")

    def at(self, cell: str, time_cell: str) -> Due:
        """The due time for an appointment in these cells ("" for an empty one)."""
        due = self._known.get((cell, time_cell))
        if due is None:
            schedule = self.options.schedule
            assert schedule is not None, "a campaign without a schedule has no due times"
            due = self._known[cell, time_cell] = schedule.due(
                cell, time_cell, self.now, self.options.timezone, self.options.send_window
            )
        return due


def schedule_list(
    conn: Connection,
    campaign_id: int,
    list_id: int,
    dues: DueTimes,
    *,
    opted_out_reason: str,
) -> None:
    """One recipient per contact of the list with the due time of its row, in one statement;
    opted-out phones and rows without a due time are skipped, saying why."""
    schedule = dues.options.schedule
    assert schedule is not None
    cells = (_field(conn, schedule.column), _field(conn, schedule.time_column))
    _DUE_TIMES.create(conn)
    try:
        distinct = conn.execute(select(*cells).where(Contact.list_id == list_id).distinct())
        rows = [
            {
                "cell": cell,
                "time_cell": time_cell,
                "due_at": due.at,
                "moved": due.moved,
                "error": due.error,
            }
            for cell, time_cell in distinct
            for due in (dues.at(cell, time_cell),)
        ]
        if rows:
            conn.execute(insert(_DUE_TIMES), rows)
        chosen = _recipient_rows(campaign_id, list_id, cells, opted_out_reason)
        conn.execute(
            insert(Recipient.__table__).from_select(list(chosen.selected_columns.keys()), chosen)
        )
    finally:
        _DUE_TIMES.drop(conn)


# The due time of each distinct (date cell, time cell) of a list, for the start's one INSERT.
_DUE_TIMES = Table(
    "schedule_due_times",
    MetaData(),
    Column("cell", Text, primary_key=True),  # each contact finds its row by this key
    Column("time_cell", Text, primary_key=True),
    Column("due_at", UTCDateTime),
    Column("moved", Boolean),
    Column("error", Text),
    prefixes=["TEMPORARY"],
)


def _recipient_rows(campaign_id: int, list_id: int, cells: tuple, opted_out_reason: str) -> Select:
    """The list's contacts as recipient rows, each with the due time of its cells."""
    known = _DUE_TIMES
    opted_out = OptOut.phone.is_not(None)
    # A list may repeat a phone and visit: its first row of them is the recipient, as the
    # unique index on (campaign, phone, due time) wants. Picked here rather than by ON
    # CONFLICT DO NOTHING, whose extra check per row cost a fifth of the start; a due time
    # left empty (a skipped row) never conflicts.
    first = func.row_number().over(
        partition_by=(Contact.phone, known.c.due_at), order_by=Contact.id
    )
    rows = (
        select(
            literal(campaign_id).label("campaign_id"),
            Contact.id.label("contact_id"),
            Contact.phone,
            case(
                (opted_out | known.c.error.is_not(None), RecipientStatus.SKIPPED.value),
                else_=RecipientStatus.PENDING.value,
            ).label("status"),
            case((opted_out, opted_out_reason), else_=known.c.error).label("error"),
            literal(0).label("attempts"),
            known.c.due_at,
            known.c.moved.label("due_moved"),
            first.label("first"),
        )
        .select_from(Contact)
        .outerjoin(OptOut, OptOut.phone == Contact.phone)
        .join(known, and_(known.c.cell == cells[0], known.c.time_cell == cells[1]))
        .where(Contact.list_id == list_id)
        .subquery()
    )
    columns = [column for column in rows.c if column.name != "first"]
    return (
        select(*columns)
        .where(or_(rows.c.first == 1, rows.c.due_at.is_(None)))
        .order_by(rows.c.contact_id)
    )


def _field(conn: Connection, name: str | None):
    """The text of a column of the contacts' fields ("" when missing or not chosen)."""
    if name is None:
        return literal("")
    # PostgreSQL reads the JSON text as json; SQLite's JSON functions take the text as it is.
    fields = (
        cast(Contact.fields_json, JSON)
        if conn.dialect.name == "postgresql"
        else type_coerce(Contact.fields_json, JSON)
    )
    return func.coalesce(fields[name].as_string(), "")


def new_people(
    people: Iterable[Person],
    dues: DueTimes,
    existing: Iterable[tuple[str, datetime | None]] = (),
) -> tuple[list[tuple[Person, Due | None]], int]:
    """Each person not already among ``existing`` (phone, due time) nor repeated, with their
    due time; and how many were left out as duplicates."""
    seen = set(existing)
    kept, duplicates = [], 0
    for person in people:
        due = dues.of(person.fields)
        key = (person.phone, due and due.at)
        if key in seen:
            duplicates += 1
        else:
            seen.add(key)
            kept.append((person, due))
    return kept, duplicates


def insert_recipients(
    conn: Connection,
    campaign_id: int,
    people: Sequence[tuple[Person, Due | None]],
    *,
    opted_out_reason: str,
) -> Counter[str]:
    """Insert a recipient per person with their due time, in one bulk insert; how many became
    each status. Opted-out people and those without a due time are skipped, saying why."""
    counts: Counter[str] = Counter()
    statuses, errors = [], []
    for person, due in people:
        if person.opted_out:
            status, error = RecipientStatus.SKIPPED, opted_out_reason
        elif due is not None and due.error:
            status, error = RecipientStatus.SKIPPED, due.error
        else:
            status, error = RecipientStatus.PENDING, None
        counts[status] += 1
        statuses.append(str(status))
        errors.append(error)
    if people:
        columns = {
            "contact_id": np.array([p.contact_id for p, _ in people], dtype=np.int64),
            "phone": pd.Series([p.phone for p, _ in people], dtype="str"),
            "status": pd.Series(statuses, dtype="str"),
            "error": pd.Series(errors, dtype="object"),
            "due_at": pd.Series(
                _stored([due and due.at for _, due in people], conn.dialect.name), dtype="object"
            ),
            "due_moved": pd.Series([due and due.moved for _, due in people], dtype="object"),
        }
        insert_rows(conn, Recipient.__table__, [columns], campaign_id=campaign_id, attempts=0)
    return counts


def _stored(moments: Sequence[datetime | None], dialect: str) -> list[str | None]:
    """UTC moments as the driver-level bulk insert must write them: as ``UTCDateTime`` stores
    them on SQLite (naive UTC text), with their zone elsewhere."""
    if dialect == "sqlite":
        return [m and m.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for m in moments]
    return [m and m.isoformat() for m in moments]
