"""The pipeline's tests run on the app's own database: SQLite, or PostgreSQL in CI."""

import json

import pytest
from sqlalchemy import Connection, func, select

from webapp.extensions import db
from webapp.models import Contact, ContactList, ImportReject, OptOut


@pytest.fixture
def engine(app):
    with app.app_context():
        yield db.engine


@pytest.fixture
def conn(engine):
    with engine.connect() as connection:
        yield connection


def stored_contacts(conn: Connection, list_id: int) -> dict[str, tuple[int, dict]]:
    """{phone: (row, fields)} of a stored list."""
    contacts = Contact.__table__
    result = conn.execute(
        select(contacts.c.phone, contacts.c.row, contacts.c.fields_json).where(
            contacts.c.list_id == list_id
        )
    )
    return {phone: (row, json.loads(fields)) for phone, row, fields in result}


def stored_rejects(conn: Connection, list_id: int) -> list[tuple[int, str, str, str]]:
    """(row, kind, value, reason) of a list's rejects, in row order."""
    rejects = ImportReject.__table__
    result = conn.execute(
        select(rejects.c.row, rejects.c.kind, rejects.c.value, rejects.c.reason)
        .where(rejects.c.list_id == list_id)
        .order_by(rejects.c.row)
    )
    return [tuple(row) for row in result]


def row_counts(conn: Connection) -> dict[str, int]:
    """How many rows each import table holds."""
    return {
        model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (ContactList, Contact, ImportReject, OptOut)
    }
