"""Import a client list: read → pick the phone column → normalize → de-duplicate → store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Column, Connection, insert

from webapp.i18n import N_
from webapp.models import Contact, ContactList, ImportReject, OptOut

from .errors import ImportFileError
from .isolated import read_table_isolated
from .phones import DETECTION_SAMPLE, detect_phone_column, normalize_phones
from .read import DEFAULT_LIMITS, ImportLimits, Table
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
    """Store the file as a new contact list; the caller commits, or rolls back on error."""
    table, column, phones, reasons = _read_phones(
        path, filename, phone_column, sheet, region, limits
    )
    verdict = _Verdict.of(phones, opted_out_phones(conn))
    stored, invalid, duplicates, opted_out = verdict.counts
    list_id = _insert_list(conn, table, column, verdict, name, filename, created_by_id)
    others = table.cells.drop(columns=column)
    contacts = (
        {
            "row": table.rows[part],
            "phone": phones.take(part),
            "fields_json": fields_json(others.take(part)),
        }
        for part in _batches(verdict.stored)
    )
    insert_rows(conn, Contact.__table__, contacts, list_id=list_id)
    _insert_rejects(conn, list_id, table, column, verdict.rejects(reasons))
    return ImportReport(
        list_id=list_id,
        stored=stored,
        invalid=invalid,
        duplicates=duplicates,
        opted_out=opted_out,
        columns=table.columns,
        phone_column=column,
        encoding=table.encoding,
        delimiter=table.delimiter,
        sheet=table.sheet,
    )


def _insert_list(
    conn: Connection,
    table: Table,
    column: str,
    verdict: _Verdict,
    name: str,
    filename: str,
    created_by_id: int | None,
) -> int:
    """The new list's row, with its counts; its id."""
    stored, invalid, duplicates, opted_out = verdict.counts
    lists = ContactList.__table__
    return conn.execute(
        insert(lists).values(
            name=_fit(name, lists.c.name),
            created_by_id=created_by_id,
            source_filename=_fit(filename, lists.c.source_filename),
            columns_json=json.dumps(table.columns, ensure_ascii=False),
            phone_column=column,
            encoding=table.encoding,
            delimiter=table.delimiter,
            sheet=_fit(table.sheet, lists.c.sheet),
            contact_count=stored,
            invalid_count=invalid,
            duplicate_count=duplicates,
            opted_out_count=opted_out,
        )
    ).inserted_primary_key[0]


def _insert_rejects(
    conn: Connection, list_id: int, table: Table, column: str, rejects: pd.DataFrame
) -> None:
    """The rows left out, each with its phone cell and why, in batches."""
    batches = (rejects.iloc[part] for part in _batches(np.arange(len(rejects))))
    columns = (
        {
            "row": table.rows[batch["position"]],
            "kind": batch["kind"],
            "value": table.cells[column].take(batch["position"]),
            "reason": batch["reason"],
        }
        for batch in batches
    )
    insert_rows(conn, ImportReject.__table__, columns, list_id=list_id)


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


@dataclass(frozen=True)
class _Verdict:
    """What becomes of each row: positions stored (file order) and masks of the others."""

    stored: np.ndarray
    invalid: np.ndarray
    duplicate: np.ndarray
    opted_out: np.ndarray

    @classmethod
    def of(cls, phones: pd.Series, opt_outs: set[str]) -> _Verdict:
        """The first row of each valid phone is stored unless opted out; later ones repeat it.

        Phones are digits without a leading zero, so they sort as integers: a stable sort
        keeps each phone's rows in file order and is several times faster than hashing them.
        """
        valid = np.flatnonzero(phones.notna().to_numpy())
        numbers = pc.cast(pa.array(phones.take(valid).array), pa.int64()).to_numpy()
        by_phone = np.argsort(numbers, kind="stable")
        numbers = numbers[by_phone]
        repeats = np.zeros(len(numbers), dtype=bool)
        repeats[1:] = numbers[1:] == numbers[:-1]
        duplicate = np.zeros(len(phones), dtype=bool)
        duplicate[valid[by_phone[repeats]]] = True
        first = np.sort(valid[by_phone[~repeats]])
        opted_out = np.zeros(len(phones), dtype=bool)
        opted_out[first] = phones.take(first).isin(opt_outs).to_numpy()
        stored = first[~opted_out[first]]
        return cls(stored, phones.isna().to_numpy(), duplicate, opted_out)

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Rows stored, invalid, duplicate and opted out."""
        masks = (self.invalid, self.duplicate, self.opted_out)
        return len(self.stored), *(int(mask.sum()) for mask in masks)

    def rejects(self, reasons: pd.Series) -> pd.DataFrame:
        """Position, kind and reason of each row not stored, in file order."""
        positions = np.flatnonzero(self.invalid | self.duplicate | self.opted_out)
        invalid, duplicate = self.invalid[positions], self.duplicate[positions]
        kinds = np.select([invalid, duplicate], ["invalid", "duplicate"], "opted_out")
        other_reason = np.where(duplicate, DUPLICATE, OPTED_OUT)
        why = np.where(invalid, reasons.take(positions).to_numpy(dtype=object), other_reason)
        return pd.DataFrame({"position": positions, "kind": kinds, "reason": why})


def _fit(text: str | None, column: Column) -> str | None:
    """`text` as `column` can hold it: a long file or sheet name is cut, not refused, and NUL
    characters (which PostgreSQL text cannot hold) are dropped."""
    return None if text is None else text.replace("\0", "")[: column.type.length]


def _batches(positions: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(positions), BATCH_ROWS):
        yield positions[start : start + BATCH_ROWS]


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
