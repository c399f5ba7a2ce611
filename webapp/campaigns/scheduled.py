"""A campaign's recipients with their due times: written in bulk at start, or as rows are added.

Each distinct cell value is read once (visits repeat dates and times), and the rows go to the
database in one bulk insert, so starting a list of 100,000 takes about as long as reading it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from ..contacts.store import insert_rows
from ..models import Recipient
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
        key = (
            fields.get(schedule.column),
            schedule.time_column and fields.get(schedule.time_column),
        )
        due = self._known.get(key)
        if due is None:
            due = self._known[key] = schedule.due(
                *key, self.now, self.options.timezone, self.options.send_window
            )
        return due


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
        }
        insert_rows(conn, Recipient.__table__, columns, campaign_id=campaign_id, attempts=0)
    return counts


def _stored(moments: Sequence[datetime | None], dialect: str) -> list[str | None]:
    """UTC moments as the driver-level bulk insert must write them: as ``UTCDateTime`` stores
    them on SQLite (naive UTC text), with their zone elsewhere."""
    if dialect == "sqlite":
        return [m and m.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for m in moments]
    return [m and m.isoformat() for m in moments]
