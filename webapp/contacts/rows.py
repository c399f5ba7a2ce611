"""Writing contacts, rejects and opt-outs, always inside the caller's transaction (no commits)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection, Table, insert, select

from webapp.columns import joined_rows, literal, may_hold, replaced
from webapp.downloads import csv_for_excel, translated
from webapp.i18n import N_
from webapp.models import ImportReject, OptOut

BATCH_ROWS = 50_000
# SQLite's least limit on a statement's parameters (newer builds allow more).
_MAX_VARIABLES = 999
# What the column-wise JSON looks like, for the rows json.dumps writes instead.
_COMPACT_JSON = {"ensure_ascii": False, "separators": (",", ":")}
# COPY's text format: the backslash first, as the others add backslashes.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
# JSON's, for the text inside quotes (control characters are left to json.dumps).
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'))


Columns = Mapping[str, pd.Series | np.ndarray]


def insert_rows(
    conn: Connection, table: Table, batches: Iterable[Columns], **constants: object
) -> None:
    """Insert batches given column by column (the same columns in each), `constants` on every row.

    SQLAlchemy's per-row parameter handling costs more than the database's insert itself, so
    the rows go straight to the driver: many rows an INSERT on SQLite; on PostgreSQL one COPY
    for all batches, sent by a background thread so that the server stores a batch while the
    next one is being built. No column here may need a type conversion or a Python-side default.
    """
    batches = (batch for batch in batches if len(next(iter(batch.values()), ())))
    first = next(batches, None)
    if first is None:
        return
    batches = chain([first], batches)
    names = [*constants, *first]
    quote = conn.dialect.identifier_preparer.quote
    into = f"{quote(table.name)} ({', '.join(map(quote, names))})"
    if conn.dialect.name == "postgresql":
        fixed = [_copy_text(pa.array([str(value)]))[0] for value in constants.values()]
        cursor = conn.connection.driver_connection.cursor()  # psycopg 3
        statement = f"COPY {into} FROM STDIN"
        with cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
            for columns in batches:
                cells = fixed + [_copy_text(pa.array(column)) for column in columns.values()]
                copy.write(
                    joined_rows([pc.binary_join_element_wise(*cells, literal("\t")), literal("\n")])
                )
        return
    for columns in batches:
        count = len(next(iter(columns.values())))
        values = [[value] * count for value in constants.values()]
        values += [column.tolist() for column in columns.values()]
        _insert_many_rows(conn, into, values)


def _insert_many_rows(conn: Connection, into: str, columns: list[list]) -> None:
    """Insert rows given as lists of column values, many rows a statement.

    SQLite binds a statement of many rows for far less per row than it steps one statement
    per row through executemany: the insert takes about 40 % less time.
    """
    width = len(columns)
    values = [None] * (width * len(columns[0]))
    for position, column in enumerate(columns):
        values[position::width] = column
    step = _MAX_VARIABLES // width * width
    for start in range(0, len(values), step):
        part = tuple(values[start : start + step])
        rows = ", ".join([f"({', '.join(['?'] * width)})"] * (len(part) // width))
        conn.exec_driver_sql(f"INSERT INTO {into} VALUES {rows}", part)


def _copy_text(values: pa.Array) -> pa.Array:
    """Values in COPY's text format: backslash escapes, ``\\N`` for null."""
    return pc.fill_null(replaced(pc.cast(values, pa.large_string()), _COPY_ESCAPES), "\\N")


def fields_json(cells: pd.DataFrame) -> pd.Series:
    """Each row as a JSON object {header: text}, built column-wise with pyarrow.

    json.dumps row by row costs seconds on a million rows. Here backslashes and quotes are
    escaped column-wise, and only rows holding control characters (rare: line breaks inside
    a cell) go through json.dumps.
    """
    if cells.columns.empty:
        return pd.Series("{}", index=cells.index, dtype="str")
    parts: list[pa.Scalar | pa.ChunkedArray] = []
    for position, name in enumerate(cells.columns):
        key = json.dumps(name, ensure_ascii=False)
        text = pa.chunked_array(pa.array(cells[name].array)).cast(pa.large_string())
        escaped = replaced(text, _JSON_ESCAPES)
        parts += [literal(("{" if position == 0 else ",") + f'{key}:"'), escaped, literal('"')]
    parts.append(literal("}"))
    joined = pc.binary_join_element_wise(*parts, literal(""))
    rows = pd.Series(pd.array(joined, dtype="str"), index=cells.index)
    # Control characters are looked for in the bytes first: most lists have none.
    if may_hold(joined, b"", below=0x20):
        controls = pc.match_substring_regex(joined, r"[\x00-\x1f]").to_numpy()
        rows[controls] = [
            json.dumps(dict(zip(cells.columns, row, strict=True)), **_COMPACT_JSON)
            for row in cells[controls].itertuples(index=False)
        ]
    return rows


def opted_out_phones(conn: Connection) -> set[str]:
    """Every opted-out phone: one query, and the list is far smaller than a client base."""
    return set(conn.execute(select(OptOut.__table__.c.phone)).scalars())


def add_opt_outs(conn: Connection, phones: Iterable[str], note: str = "") -> int:
    """Opt out normalized phones not opted out yet; return how many were added."""
    new = dict.fromkeys(phones).keys() - opted_out_phones(conn)
    if new:
        conn.execute(insert(OptOut.__table__), [{"phone": phone, "note": note} for phone in new])
    return len(new)


def rejects_csv(conn: Connection, list_id: int, translate: Callable[[str], str]) -> Iterator[bytes]:
    """The list's rejected rows as CSV for Excel, read and written while it is streamed."""
    rejects = ImportReject.__table__
    header = [translate(N_("row")), translate(N_("value")), translate(N_("reason"))]

    def tables() -> Iterator[pa.Table]:
        result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
            select(rejects.c.row, rejects.c.value, rejects.c.reason)
            .where(rejects.c.list_id == list_id)
            .order_by(rejects.c.row, rejects.c.id)
        )
        for rows in result.partitions():
            row, value, reason = zip(*rows, strict=True)
            yield pa.table(
                [
                    pa.array(row),
                    pa.array(value, pa.string()),
                    translated(pa.array(reason), translate),
                ],
                names=["row", "value", "reason"],
            )

    return csv_for_excel(header, tables())
