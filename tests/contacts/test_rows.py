"""Bulk writes of contacts and rejects: every character arrives as it was, on both databases."""

import json

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from webapp.contacts.rows import fields_json, insert_rows
from webapp.models import Contact, ContactList, ImportReject

from .conftest import stored_contacts, stored_rejects

AWKWARD = ["back\\slash \\N", "tab\there", "line\nbreak", "cr\rlf\r\n", 'quote " ;', "Ёж ✓", ""]


def test_awkward_text_is_stored_as_it_was(conn):
    list_id = conn.execute(
        insert(ContactList.__table__).values(name="x", phone_column="Телефон")
    ).inserted_primary_key[0]
    rows = np.arange(2, 2 + len(AWKWARD))
    phones = pd.Series([f"7924355{n:04d}" for n in range(len(AWKWARD))])
    fields = pd.Series([json.dumps({"Имя": text}, ensure_ascii=False) for text in AWKWARD])
    contacts = {"row": rows, "phone": phones, "fields_json": fields}
    rejects = {"row": rows, "kind": np.full(len(rows), "invalid"), "value": pd.Series(AWKWARD)}

    insert_rows(conn, Contact.__table__, [contacts], list_id=list_id)
    insert_rows(conn, ImportReject.__table__, [rejects], list_id=list_id, reason="\\ tab\t")

    stored = stored_contacts(conn, list_id)
    assert [stored[phone] for phone in phones] == [
        (row, {"Имя": text}) for row, text in zip(rows, AWKWARD, strict=True)
    ]
    assert stored_rejects(conn, list_id) == [
        (row, "invalid", text, "\\ tab\t") for row, text in zip(rows, AWKWARD, strict=True)
    ]


def test_an_empty_batch_writes_nothing(conn):
    insert_rows(conn, Contact.__table__, [{"row": np.array([], int)}], list_id=1)
    assert stored_contacts(conn, 1) == {}


def test_batches_are_stored_in_the_order_given(conn):
    list_id = conn.execute(
        insert(ContactList.__table__).values(name="x", phone_column="Телефон")
    ).inserted_primary_key[0]
    batches = [
        {
            "row": np.array([row]),
            "phone": pd.Series([f"792435500{row:02d}"]),
            "fields_json": pd.Series(["{}"]),
        }
        for row in (5, 2, 9, 3)
    ]

    insert_rows(conn, Contact.__table__, batches, list_id=list_id)

    contacts = Contact.__table__
    in_id_order = conn.scalars(
        select(contacts.c.row).where(contacts.c.list_id == list_id).order_by(contacts.c.id)
    )
    assert list(in_id_order) == [5, 2, 9, 3]


def test_batches_longer_than_a_statement_store_every_row_once(conn):
    list_id = conn.execute(
        insert(ContactList.__table__).values(name="x", phone_column="Телефон")
    ).inserted_primary_key[0]
    # Lengths around the rows one INSERT can bind (999 parameters), and a batch after them.
    batches = [
        {
            "row": np.arange(start, start + size),
            "phone": pd.Series([f"7924{n:07d}" for n in range(start, start + size)]),
            "fields_json": pd.Series(
                [json.dumps({"n": str(n)}) for n in range(start, start + size)]
            ),
        }
        for start, size in ((2, 249), (251, 250), (501, 251), (752, 1_000))
    ]

    insert_rows(conn, Contact.__table__, batches, list_id=list_id)

    contacts = Contact.__table__
    stored = conn.execute(
        select(contacts.c.row, contacts.c.phone, contacts.c.fields_json)
        .where(contacts.c.list_id == list_id)
        .order_by(contacts.c.id)
    ).all()
    assert [(row, phone, json.loads(fields)["n"]) for row, phone, fields in stored] == [
        (n, f"7924{n:07d}", str(n)) for n in range(2, 1_752)
    ]


def test_fields_are_json_objects_of_the_cells_as_they_were():
    cells = pd.DataFrame(
        {"Имя": AWKWARD, 'Код "new"': [f"Д-{n}" for n in range(len(AWKWARD))]}, dtype="str"
    )

    rows = fields_json(cells)

    assert [json.loads(row) for row in rows] == cells.to_dict("records")
    # Rows without control characters are written as compactly as json.dumps writes them.
    assert rows[0] == json.dumps(cells.iloc[0].to_dict(), ensure_ascii=False, separators=(",", ":"))
