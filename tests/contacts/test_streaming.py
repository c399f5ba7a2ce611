"""Text files read a block at a time, stored while the rest is read: the same rows as a whole
read, in the same order, with the same verdict on each."""

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from webapp.contacts import ImportFileError, ImportLimits, import_contacts, normalize_phone
from webapp.contacts.errors import InvalidPhoneError
from webapp.contacts.read import read_batches, read_table
from webapp.models import OptOut

from .conftest import row_counts, stored_contacts, stored_rejects

BLOCK = 256  # bytes: a handful of records a block


def clients(count: int, *, extra: str = "") -> list[str]:
    """Lines of a client list whose phones repeat across the file, some of them unusable."""
    lines = ["Телефон;ФИО;Комментарий"]
    for n in range(count):
        phone = "нет" if n % 97 == 5 else f"8 924 355-{n % 1_000:04d}"
        lines.append(f'{phone};Клиент {n};"заказ {n}{extra}"')
    return lines


def write(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "clients.csv"
    path.write_bytes("\r\n".join([*lines, ""]).encode(encoding))
    return path


def assert_read_alike(path: Path, **options) -> list:
    """read_batches in small blocks gives what read_table gives, a part at a time."""
    whole = read_table(path, path.name, **options)
    parts = list(read_batches(path, path.name, block_bytes=BLOCK, **options))
    assert all(part.columns == whole.columns for part in parts)
    assert all(part.encoding == whole.encoding for part in parts)
    assert pd.concat([part.cells for part in parts], ignore_index=True).equals(whole.cells)
    assert np.concatenate([part.rows for part in parts]).tolist() == whole.rows.tolist()
    return parts


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(clients(60), id="plain"),
        pytest.param(["", "  ", *clients(30)[:12], "", ";;", *clients(30)[12:]], id="blank rows"),
        pytest.param(clients(40, extra="\nвторая строка"), id="line breaks in cells"),
        pytest.param(["sep=;", *clients(40)], id="Excel's sep line"),
    ],
)
def test_blocks_hold_the_rows_of_a_whole_read(tmp_path, lines):
    parts = assert_read_alike(write(tmp_path, lines))
    assert len(parts) > 3


def test_a_cp1251_file_is_read_in_blocks_too(tmp_path):
    parts = assert_read_alike(write(tmp_path, clients(60), "cp1251"))
    assert len(parts) > 3 and parts[0].encoding == "cp1251"


def test_short_rows_past_the_first_blocks_are_padded_as_a_whole_read_pads_them(tmp_path):
    lines = clients(60)
    lines[45] = "89243550045;Клиент без комментария"
    parts = assert_read_alike(write(tmp_path, lines))
    padded = pd.concat([part.cells for part in parts], ignore_index=True).iloc[44]
    assert padded.tolist() == ["89243550045", "Клиент без комментария", ""]


def test_a_long_row_past_the_first_blocks_is_refused(tmp_path):
    lines = clients(200)
    lines[150] += ";лишнее"  # past the records that tell the width
    with pytest.raises(ImportFileError, match="more fields"):
        list(read_batches(write(tmp_path, lines), "clients.csv", block_bytes=BLOCK))


def test_a_header_with_a_blank_name_is_read_whole(tmp_path):
    # Whether the unnamed column is kept depends on its cells down to the last row.
    lines = [line + ";" for line in clients(60)]
    lines[50] += "заметка"
    parts = assert_read_alike(write(tmp_path, lines))
    assert len(parts) == 1 and parts[0].columns[-1] == "column_4"


def test_rows_past_the_limit_are_counted_not_given(tmp_path):
    path = write(tmp_path, clients(60))
    with pytest.raises(ImportFileError) as refused:
        for part in read_batches(
            path, path.name, limits=ImportLimits(max_rows=20), block_bytes=BLOCK
        ):
            assert part.rows.max() <= 21
    assert refused.value.params == {"count": 60, "limit": 20}


@functools.cache
def normalized(value: str) -> tuple[str | None, str | None]:
    """The phone, or why there is none (the lists repeat their numbers)."""
    try:
        return normalize_phone(value), None
    except InvalidPhoneError as error:
        return None, error.reason


def expected_import(lines: list[str], opted_out: set[str]) -> tuple[dict, list]:
    """What an import must store and reject, worked out a row at a time."""
    seen: set[str] = set()
    stored, rejects = {}, []
    for row, line in enumerate(lines[1:], start=2):
        value, name, comment = line.split(";")
        phone, reason = normalized(value)
        if phone is None:
            rejects.append((row, "invalid", value, reason))
            continue
        if phone in seen:
            rejects.append((row, "duplicate", value, "duplicate of an earlier row"))
        elif phone in opted_out:
            rejects.append((row, "opted_out", value, "opted out"))
        else:
            stored[phone] = (row, {"ФИО": name, "Комментарий": comment.strip('"')})
        seen.add(phone)
    return stored, rejects


def test_an_import_of_many_parts_stores_each_phone_once_in_file_order(conn, tmp_path):
    # Past one read block (4 MB) and one stored part (50,000 rows): each phone's first row is
    # in the first part, its repeats in all of them; opted-out and invalid rows throughout.
    lines = clients(120_000)
    opted_out = {"79243550007", "79243550999"}
    conn.execute(insert(OptOut.__table__), [{"phone": phone} for phone in opted_out])
    path = write(tmp_path, lines)
    assert path.stat().st_size > 4 << 20

    report = import_contacts(conn, path, path.name, name="many")

    stored, rejects = expected_import(lines, opted_out)
    assert stored_contacts(conn, report.list_id) == stored
    assert stored_rejects(conn, report.list_id) == rejects
    kinds = [kind for _, kind, _, _ in rejects]
    assert (report.stored, report.invalid, report.duplicates, report.opted_out) == (
        len(stored),
        kinds.count("invalid"),
        kinds.count("duplicate"),
        kinds.count("opted_out"),
    )


def test_a_refusal_late_in_the_file_leaves_nothing_once_rolled_back(conn, tmp_path):
    lines = clients(120_000)
    lines[110_000] += ";лишнее"
    path = write(tmp_path, lines)

    with pytest.raises(ImportFileError, match="more fields"):
        import_contacts(conn, path, path.name, name="broken")
    conn.rollback()

    assert set(row_counts(conn).values()) == {0}
