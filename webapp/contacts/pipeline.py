"""Import a client list: read → pick the phone column → normalize → de-duplicate → store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Connection, insert, update

from webapp.i18n import N_
from webapp.models import Contact, ContactList, ImportReject, OptOut

from .errors import ImportFileError
from .isolated import Part, read_isolated, read_table_isolated
from .phones import DETECTION_SAMPLE, detect_phone_column, normalize_phones
from .read import DEFAULT_LIMITS, ImportLimits, Table, read_batches
from .rows import BATCH_ROWS, add_opt_outs, fields_json, insert_rows, opted_out_phones

DUPLICATE = N_("duplicate of an earlier row")
OPTED_OUT = N_("opted out")
# Preview reads this many records past the header, enough for the phone column detection to
# see what the import will see, even with a few blank rows.
_PREVIEW_RECORDS = DETECTION_SAMPLE + 20


@dataclass(frozen=True)
class FilePreview:
    """The top of a file, for choosing the phone column before importing."""

    columns: list[str]
    rows: list[list[str]]
    phone_column: str | None
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheet_names: list[str]


@dataclass(frozen=True)
class ImportReport:
    """What an import stored; the rejected rows themselves are in import_rejects."""

    list_id: int
    stored: int
    invalid: int
    duplicates: int
    opted_out: int
    columns: list[str]
    phone_column: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None


@dataclass(frozen=True)
class OptOutImportReport:
    """What a file of opt-outs added."""

    added: int
    already_opted_out: int
    invalid: int
    duplicates: int
    phone_column: str


def preview_file(
    path: str | Path,
    filename: str,
    sheet: str | None = None,
    rows: int = 10,
    *,
    region: str = "RU",
    limits: ImportLimits = DEFAULT_LIMITS,
) -> FilePreview:
    """Columns, the first `rows` data rows and the guessed phone column, reading only the top."""
    records = max(rows, _PREVIEW_RECORDS)
    table = read_table_isolated(
        path, filename, sheet=sheet, region=region, limits=limits, max_records=records
    )
    return FilePreview(
        columns=table.columns,
        rows=table.cells.head(rows).to_numpy().tolist(),
        phone_column=detect_phone_column(table.cells, region),
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
        sheet_names=table.sheet_names,
    )


def import_contacts(
    conn: Connection,
    path: str | Path,
    filename: str,
    *,
    name: str,
    phone_column: str | None = None,
    sheet: str | None = None,
    region: str = "RU",
    created_by_id: int | None = None,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Store the file as a new contact list; the caller commits, or rolls back on error.

    The child process reading the file also normalizes its phones and writes its fields as
    JSON, a part at a time; here each part is sorted and stored while the child makes the next.
    """
    options = {"phone_column": phone_column, "sheet": sheet, "region": region}
    with read_isolated(_import_parts, path, filename, limits=limits, **options) as parts:
        source, first = next(parts)
        list_id = _insert_list(conn, source, name, filename, created_by_id)
        sorting = _Sorting(opted_out_phones(conn))
        contacts = (sorting.contacts(part) for _, part in chain([(source, first)], parts))
        insert_rows(conn, Contact.__table__, contacts, list_id=list_id)
    insert_rows(conn, ImportReject.__table__, sorting.rejects, list_id=list_id)
    counts = sorting.counts
    lists = ContactList.__table__
    conn.execute(
        update(lists)
        .where(lists.c.id == list_id)
        .values(
            contact_count=counts.stored,
            invalid_count=counts.invalid,
            duplicate_count=counts.duplicates,
            opted_out_count=counts.opted_out,
        )
    )
    return ImportReport(
        list_id=list_id,
        stored=counts.stored,
        invalid=counts.invalid,
        duplicates=counts.duplicates,
        opted_out=counts.opted_out,
        columns=source["columns"],
        phone_column=source["phone_column"],
        encoding=source["encoding"],
        delimiter=source["delimiter"],
        sheet=source["sheet"],
    )


def _import_parts(
    path: Path, filename: str, *, phone_column: str | None, region: str, **options
) -> Iterator[Part]:
    """The child's share of an import: the file in parts of consecutive rows, each with its
    phone cells, those normalized (or why not) and the other cells as JSON objects."""
    tables = read_batches(path, filename, region=region, **options)
    first = next(tables)
    column = _phone_column(first, phone_column, region)
    source = first.description() | {"phone_column": column}
    for table in chain([first], tables):
        for part in _parts(table):
            phones, reasons = normalize_phones(part.cells[column], region)
            yield (
                source,
                pa.table(
                    {
                        "row": part.rows,
                        "value": pa.array(part.cells[column].array),
                        "phone": pa.array(phones.array),
                        "reason": pa.array(reasons.array),
                        "fields_json": pa.array(fields_json(part.cells.drop(columns=column)).array),
                    }
                ),
            )


def _insert_list(
    conn: Connection, source: dict, name: str, filename: str, created_by_id: int | None
) -> int:
    """The new list's row, its counts to come; its id."""
    lists = ContactList.__table__
    return conn.execute(
        insert(lists).values(
            name=_fit(name, lists.c.name),
            created_by_id=created_by_id,
            source_filename=_fit(filename, lists.c.source_filename),
            columns_json=json.dumps(source["columns"], ensure_ascii=False),
            phone_column=source["phone_column"],
            encoding=source["encoding"],
            delimiter=source["delimiter"],
            sheet=_fit(source["sheet"], lists.c.sheet),
        )
    ).inserted_primary_key[0]


def import_opt_outs(
    conn: Connection,
    path: str | Path,
    filename: str,
    *,
    note: str = "",
    phone_column: str | None = None,
    sheet: str | None = None,
    region: str = "RU",
    limits: ImportLimits = DEFAULT_LIMITS,
) -> OptOutImportReport:
    """Opt out every valid phone in the file; the caller commits."""
    _, column, phones, _ = _read_phones(path, filename, phone_column, sheet, region, limits)
    valid = phones.dropna()
    unique = valid.drop_duplicates()
    added = add_opt_outs(conn, unique, _fit(note, OptOut.__table__.c.note))
    return OptOutImportReport(
        added=added,
        already_opted_out=len(unique) - added,
        invalid=len(phones) - len(valid),
        duplicates=len(valid) - len(unique),
        phone_column=column,
    )


def read_rows(
    path: str | Path,
    filename: str,
    *,
    sheet: str | None = None,
    region: str = "RU",
    limits: ImportLimits = DEFAULT_LIMITS,
) -> list[dict[str, str]]:
    """Every row of the file as {column: text}, read as an import reads it."""
    table = read_table_isolated(path, filename, sheet=sheet, region=region, limits=limits)
    return table.cells.to_dict("records")


@dataclass
class _Counts:
    stored: int = 0
    invalid: int = 0
    duplicates: int = 0
    opted_out: int = 0


class _Sorting:
    """What becomes of each row, part after part of a file: the first row of each valid phone
    is stored unless opted out; later ones repeat it; the others are kept as rejects."""

    def __init__(self, opt_outs: set[str]) -> None:
        self.opt_outs = pa.array(sorted(opt_outs), pa.string())
        self.seen = np.empty(0, np.int64)  # the phones of the parts before, sorted
        self.counts = _Counts()
        self.rejects: list[dict] = []

    def contacts(self, part: pa.Table) -> dict:
        """The part's rows to store, as `insert_rows` takes them; its rejects kept aside."""
        phones = part["phone"]
        stored, invalid, duplicate, opted_out = self._sort(phones)
        self.counts.stored += len(stored)
        self.counts.invalid += int(invalid.sum())
        self.counts.duplicates += int(duplicate.sum())
        self.counts.opted_out += int(opted_out.sum())
        self._keep_rejects(part, invalid, duplicate, opted_out)
        rows = part["row"].to_numpy()
        return {
            "row": rows[stored],
            "phone": _texts(phones.take(stored)),
            "fields_json": _texts(part["fields_json"].take(stored)),
        }

    def _sort(self, phones: pa.ChunkedArray) -> tuple[np.ndarray, ...]:
        """Positions stored (in order), and masks of the invalid, duplicate and opted-out rows.

        Phones are digits without a leading zero, so they sort as integers: a stable sort
        keeps each phone's rows in file order and is several times faster than hashing them.
        """
        invalid = pc.is_null(phones).to_numpy(zero_copy_only=False)
        valid = np.flatnonzero(~invalid)
        numbers = pc.cast(phones.take(valid), pa.int64()).to_numpy()
        by_phone = np.argsort(numbers, kind="stable")
        numbers = numbers[by_phone]
        repeats = np.zeros(len(numbers), dtype=bool)
        repeats[1:] = numbers[1:] == numbers[:-1]
        firsts = numbers[~repeats]
        known = _members(self.seen, firsts)
        repeats[~repeats] = known
        # Both are sorted: the stable sort merges them in one pass.
        self.seen = np.sort(np.concatenate([self.seen, firsts[~known]]), kind="stable")
        duplicate = np.zeros(len(phones), dtype=bool)
        duplicate[valid[by_phone[repeats]]] = True
        first = np.sort(valid[by_phone[~repeats]])
        opted_out = np.zeros(len(phones), dtype=bool)
        opted_out[first] = pc.is_in(phones.take(first), self.opt_outs).to_numpy()
        return first[~opted_out[first]], invalid, duplicate, opted_out

    def _keep_rejects(
        self, part: pa.Table, invalid: np.ndarray, duplicate: np.ndarray, opted_out: np.ndarray
    ) -> None:
        """Row, kind, phone cell and reason of each row not stored, in file order."""
        positions = np.flatnonzero(invalid | duplicate | opted_out)
        if not len(positions):
            return
        invalid, duplicate = invalid[positions], duplicate[positions]
        reasons = part["reason"].take(positions).to_numpy(zero_copy_only=False)
        self.rejects.append(
            {
                "row": part["row"].to_numpy()[positions],
                "kind": np.select([invalid, duplicate], ["invalid", "duplicate"], "opted_out"),
                "value": _texts(part["value"].take(positions)),
                "reason": np.where(invalid, reasons, np.where(duplicate, DUPLICATE, OPTED_OUT)),
            }
        )


def _members(known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of `values` are in `known`, both sorted."""
    at = np.minimum(np.searchsorted(known, values), max(len(known) - 1, 0))
    return known[at] == values if len(known) else np.zeros(len(values), dtype=bool)


def _texts(values: pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.array(values, dtype="str"))


def _fit(text: str | None, column: Column) -> str | None:
    """`text` as `column` can hold it: a long file or sheet name is cut, not refused, and NUL
    characters (which PostgreSQL text cannot hold) are dropped."""
    return None if text is None else text.replace("\0", "")[: column.type.length]


def _parts(table: Table) -> Iterator[Table]:
    """The table in parts of at most ``BATCH_ROWS`` rows, which bound what a write holds."""
    for start in range(0, len(table.rows), BATCH_ROWS):
        end = start + BATCH_ROWS
        yield replace(table, cells=table.cells.iloc[start:end], rows=table.rows[start:end])


def _read_phones(
    path: str | Path,
    filename: str,
    phone_column: str | None,
    sheet: str | None,
    region: str,
    limits: ImportLimits,
) -> tuple[Table, str, pd.Series, pd.Series]:
    """The file's table, its phone column, and that column normalized (phones, reasons)."""
    table = read_table_isolated(path, filename, sheet=sheet, region=region, limits=limits)
    column = _phone_column(table, phone_column, region)
    return table, column, *normalize_phones(table.cells[column], region)


def _phone_column(table: Table, requested: str | None, region: str) -> str:
    if requested is not None:
        if requested not in table.columns:
            raise ImportFileError(
                N_("There is no column “%(column)s” in the file. Columns: %(columns)s."),
                {"column": requested, "columns": ", ".join(table.columns)},
                422,
            )
        return requested
    detected = detect_phone_column(table.cells, region)
    if detected is None:
        raise ImportFileError(
            N_("No column looks like phone numbers. Choose it among: %(columns)s."),
            {"columns": ", ".join(table.columns)},
            422,
        )
    return detected
