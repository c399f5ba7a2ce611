"""Reading an uploaded client list into a table of text cells.

Text files (CSV, TSV, TXT) go through pyarrow, pandas' fast CSV engine, called directly because
pandas does not let it read line breaks inside quoted fields; the pandas C engine is the
fallback for ragged rows and reads previews. Workbooks (XLSX, XLS, ODS) go through calamine,
the engine behind pandas' ``read_excel(engine="calamine")``, also called directly: pandas
materializes the empty area in front of the data and gives no chance to measure a sheet first.
Every cell comes out as stripped text, so phone numbers and leading zeros survive; workbook
cells as their number formats show them (``styles.py`` finds the formats).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import html
import io
import posixpath
import re
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from xml.parsers import expat

import numpy as np
import olefile
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from webapp.i18n import N_

from .errors import ImportFileError
from .phones import normalize_phones
from .styles import (
    Styled,
    column_number,
    column_texts,
    ods_styled,
    xls_sheets,
    xls_styled,
    xlsx_styled,
)

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
WORKBOOK_SUFFIXES = (*XLSX_SUFFIXES, ".xls", ".ods")
DELIMITERS = (",", ";", "\t", "|")
# What a text file is read in at a time, when its rows can be stored while it is read.
BLOCK_BYTES = 4 << 20
# Column names are cut to what a list stores of one (the phone column's name: String(255)).
MAX_NAME_CHARS = 255

_SAMPLE_BYTES = 1 << 16
_SEP_LINE = re.compile(r"\Asep=([^\r\n])\r?\n")
_CHUNK_BYTES = 1 << 22
_SNIFF_RECORDS = 50
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A member must unpack to this much before its compression ratio is judged: small XML parts
# of ordinary workbooks (styles, themes) can compress very well without being dangerous.
_RATIO_FLOOR_BYTES = 1 << 20
# References in sheet XML, r="B7" on cells and r="7" on rows, read without parsing the XML:
# what follows each r=", a column only when a digit follows it, a row only when closed by a
# quote. Another attribute ending in "r" could only make the extent look larger: the safe side.
_REF_START = 'r="'
_REFERENCE = r'^(?P<column>[A-Z]*)(?P<row>[0-9]+)(?P<closed>"?)'
# Where a row of sheet XML ends, and the namespace prefix its elements carry.
_ROW_END = re.compile(rb"</(\w+:)?row>")
# Row and cell elements of sheet XML, <row> or <x:c>: counted, for cells without references.
# Whitespace is spelled out: the \s of Arrow's RE2 leaves out \v, Python's does not.
_ROW_START = r"<(?:\w+:)?row[ \t\n\r\f\v/>]"
_CELL_START = r"<(?:\w+:)?c[ \t\n\r\f\v/>]"
# Spreadsheet XML nests a dozen levels at most; far deeper is an attack on the parser.
_MAX_XML_DEPTH = 100
_ODS_CELLS = frozenset({"table:table-cell", "table:covered-table-cell"})
# BIFF records of XLS: EOF ends a sheet; these hold a value at (row, column), MULRK a run of
# them (formula, string, number, RK number, inline string, rich string, bool or error).
_BIFF_EOF = 0x000A
_BIFF_VALUES = frozenset({0x0006, 0x00FD, 0x0203, 0x027E, 0x0204, 0x00D6, 0x0205})
_BIFF_MULRK = 0x00BD
_BIFF_HEADER = struct.Struct("<HH")
# The parts of ODS content.xml that say where sheets, rows and filled cells are.
_ODS_PART = re.compile(
    rb"<(/?)table:(table|table-row|table-cell|covered-table-cell|table-row-group"
    rb"|table-header-rows|table-rows)(?=[\s/>])([^>]*?)(/?)>"
)
_ODS_ROW_GROUPS = {b"table-row-group", b"table-header-rows", b"table-rows"}
_ODS_NAME = re.compile(rb'\btable:name="([^"]*)"')
_ODS_TABLE_END = b"</table:table>"


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on one file; past them it is refused (422) before it costs much time or memory."""

    max_rows: int = 2_000_000
    max_columns: int = 200
    max_cells: int = 10_000_000
    max_unpacked_bytes: int = 512 * 1024 * 1024
    max_compression_ratio: int = 100
    # Reading happens in a child process held to these (see isolated.py).
    max_memory_bytes: int = 3 << 30
    max_seconds: float = 60.0


DEFAULT_LIMITS = ImportLimits()


@dataclass
class Table:
    """A sheet as text: unique header names, data cells ("" when empty), spreadsheet row numbers."""

    columns: list[str]
    cells: pd.DataFrame
    rows: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheet_names: list[str] = field(default_factory=list)

    def description(self) -> dict:
        """Everything but the cells and their row numbers, as keyword arguments of Table."""
        return {
            "columns": self.columns,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "sheet_names": self.sheet_names,
        }


@dataclass
class _Grid:
    """Cells as read, column by column, before the header is found."""

    columns: list[pa.ChunkedArray]
    first_row: int = 1
    first_column: int = 1


def read_table(
    path: str | Path,
    filename: str,
    *,
    sheet: str | None = None,
    region: str = "RU",
    limits: ImportLimits = DEFAULT_LIMITS,
    max_records: int | None = None,
) -> Table:
    """Read the file at `path` (uploaded as `filename`); `max_records` reads only the top.

    `region` only tells a bare list of phone numbers, whose first row is no header.
    """
    path = Path(path)
    suffix = Path(filename).suffix.lower()
    if suffix not in TEXT_SUFFIXES + WORKBOOK_SUFFIXES:
        raise ImportFileError(
            N_("Files of type “%(type)s” cannot be imported: use CSV, TXT, XLSX, XLS or ODS."),
            {"type": suffix or filename},
            415,
        )
    if path.stat().st_size == 0:
        raise ImportFileError(N_("The file is empty."), status=422)
    if suffix in TEXT_SUFFIXES:
        grid, source = _read_text(path, limits, max_records)
    else:
        grid, source = _read_workbook(path, suffix, sheet, limits, max_records)
    return _tabulate(grid, limits, region, **source)


def read_batches(
    path: str | Path, filename: str, *, block_bytes: int = BLOCK_BYTES, **options
) -> Iterator[Table]:
    """The whole file as `read_table(path, filename, **options)` reads it, in tables of
    consecutive rows given as they are read: a text file whose header names every column a
    block of about `block_bytes` at a time, so that its rows can be stored while the rest is
    read; any other file whole."""
    path = Path(path)
    if Path(filename).suffix.lower() not in TEXT_SUFFIXES or path.stat().st_size == 0:
        yield read_table(path, filename, **options)
        return
    region, limits = options.get("region", "RU"), options.get("limits", DEFAULT_LIMITS)
    text = _sniff_text(path, limits, whole_file=True)
    tables = _tabulated_blocks(_csv_blocks(text, block_bytes), limits, region, **text.source)
    try:
        first = next(tables)
    except _NotStreamable:
        yield _tabulate(_Grid(_read_csv_whole(text)), limits, region, **text.source)
        return
    yield first
    yield from tables


# Text files


def _read_text(
    path: Path, limits: ImportLimits, max_records: int | None
) -> tuple[_Grid, dict[str, str]]:
    text = _sniff_text(path, limits, whole_file=max_records is None)
    columns = _read_csv_whole(text) if max_records is None else _read_csv_c(text, max_records)
    return _Grid(columns), text.source


@dataclass(frozen=True)
class _TextFile:
    """How a text file is written: what the sniffing of its start found."""

    path: Path
    encoding: str
    delimiter: str
    width: int
    skip: int  # lines before the first record: Excel's "sep=;"

    @property
    def source(self) -> dict[str, str]:
        return {"encoding": self.encoding, "delimiter": self.delimiter}


def _sniff_text(path: Path, limits: ImportLimits, *, whole_file: bool) -> _TextFile:
    with path.open("rb") as file:
        head = file.read(_SAMPLE_BYTES)
    encoding = _sniff_encoding(path, head, whole_file=whole_file)
    complete = len(head) < _SAMPLE_BYTES
    sample = _decode_sample(head, encoding, complete=complete)
    # Excel writes "sep=;" as the first line to name the delimiter, and hides it: it is no row.
    skip = 0
    delimiters = DELIMITERS
    if declared := _SEP_LINE.match(sample):
        skip, delimiters, sample = 1, (declared[1],), sample[declared.end() :]
    delimiter, width = _sniff_delimiter(sample, delimiters)
    if not complete and not _holds_a_whole_record(sample, delimiter):
        # The width is known only from whole records: a longer first one could hide any number
        # of columns from the cap.
        raise ImportFileError(
            N_("The first row of the file is longer than %(limit)s KB: it is not a table."),
            {"limit": _SAMPLE_BYTES >> 10},
            422,
        )
    _check_width(width, limits)
    return _TextFile(path, encoding, delimiter, width, skip)


def _sniff_encoding(path: Path, head: bytes, *, whole_file: bool) -> str:
    """UTF-8 (with or without BOM), UTF-16, or else cp1251, what Russian Excel saves CSV in."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\0" in head:
        return _utf16_without_bom(head)
    utf8 = _is_utf8_file(path) if whole_file else _is_utf8_start(head)
    return "utf-8" if utf8 else "cp1251"


def _utf16_without_bom(head: bytes) -> str:
    # Latin text in UTF-16 has a zero in every other byte: odd places for LE, even for BE.
    zeros_le, zeros_be = head[1::2].count(0), head[0::2].count(0)
    if max(zeros_le, zeros_be) < len(head) // 4:
        raise ImportFileError(
            N_("This is not a text file: upload CSV, TXT, XLSX, XLS or ODS."), status=415
        )
    return "utf-16-le" if zeros_le > zeros_be else "utf-16-be"


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            yield chunk


def _is_utf8_file(path: Path) -> bool:
    """Whether the whole file is UTF-8, checked by Arrow, several times faster than a codec,
    in the file mapped as one binary value rather than copied."""
    with pa.memory_map(str(path)) as file:
        data = file.read_buffer()
        offsets = pa.py_buffer(np.array([0, data.size], np.int64))
        whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, data])
        try:
            whole.cast(pa.large_string())
        except pa.ArrowInvalid:
            return False
    return True


def _is_utf8_start(head: bytes) -> bool:
    """Whether `head` starts a UTF-8 text: it may end inside a character."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


def _decode_sample(head: bytes, encoding: str, *, complete: bool) -> str:
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    # The last line of a cut sample is partial; keep whole lines when there is more than one.
    cut = text.rfind("\n")
    return text if complete or cut <= 0 else text[:cut]


def _sniff_delimiter(sample: str, delimiters: tuple[str, ...] = DELIMITERS) -> tuple[str, int]:
    """The delimiter that splits the first records most consistently, and their widest count."""

    def field_counts(delimiter: str) -> list[int]:
        records = csv.reader(io.StringIO(sample), delimiter=delimiter)
        try:
            return [len(record) for record in islice(records, _SNIFF_RECORDS) if any(record)]
        except csv.Error:
            return []

    def score(counts: list[int]) -> tuple[bool, float, int]:
        if not counts:
            return False, 0.0, 0
        width, frequency = Counter(counts).most_common(1)[0]
        return width > 1, frequency / len(counts), width

    counts = {delimiter: field_counts(delimiter) for delimiter in delimiters}
    best = max(delimiters, key=lambda delimiter: score(counts[delimiter]))
    if not score(counts[best])[0] and len(delimiters) > 1:
        # One column: any delimiter absent from the text keeps each line whole.
        best = next((d for d in DELIMITERS if d not in sample), best)
    return best, max(counts[best], default=1)


def _holds_a_whole_record(sample: str, delimiter: str) -> bool:
    """Whether the first record ends before the sample's last line, surely inside the sample."""
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
    try:
        next(reader)
    except (csv.Error, StopIteration):
        return False
    return reader.line_num <= sample.count("\n")


def _check_width(width: int, limits: ImportLimits) -> None:
    if width > limits.max_columns:
        raise ImportFileError(
            N_("The file has %(count)s columns; at most %(limit)s can be imported."),
            {"count": width, "limit": limits.max_columns},
            422,
        )


def _read_csv_whole(text: _TextFile) -> list[pa.ChunkedArray]:
    try:
        return pa_csv.read_csv(_utf8_source(text), **_arrow_options(text)).columns
    except pa.ArrowInvalid:
        # Rows narrower than the first ones: the C engine pads them with empty cells.
        return _read_csv_c(text)


def _csv_blocks(text: _TextFile, block_bytes: int) -> Iterator[list[pa.ChunkedArray]]:
    """The file's records in blocks of about `block_bytes`, as Arrow reads them. Should Arrow
    meet a row narrower than the first ones (or one longer than a block), the C engine, which
    pads such rows, goes on from the first record not given."""
    given = 0
    try:
        options = _arrow_options(text, block_size=block_bytes)
        for batch in pa_csv.open_csv(_utf8_source(text), **options):
            yield [pa.chunked_array([column]) for column in batch.columns]
            given += batch.num_rows
        return
    except pa.ArrowInvalid:
        pass
    rows = max(1, block_bytes // 64)
    with _wider_rows_refused():
        for chunk in pd.read_csv(text.path, **_c_engine_options(text), chunksize=rows):
            chunk = chunk.iloc[max(0, given - int(chunk.index[0])) :]
            if len(chunk):
                yield [pa.chunked_array([pa.array(chunk[j].array)]) for j in chunk]


def _arrow_options(text: _TextFile, **read_options) -> dict:
    names = [str(i) for i in range(text.width)]
    return {
        "read_options": pa_csv.ReadOptions(column_names=names, skip_rows=text.skip, **read_options),
        "parse_options": pa_csv.ParseOptions(
            delimiter=text.delimiter, newlines_in_values=True, ignore_empty_lines=False
        ),
        "convert_options": pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def _utf8_source(text: _TextFile) -> str | io.BytesIO:
    """The file as UTF-8 for pyarrow, whose own transcoding is ten times slower than Python's."""
    if text.encoding in ("utf-8", "utf-8-sig"):
        return str(text.path)  # pyarrow skips a UTF-8 BOM itself
    decoder = codecs.getincrementaldecoder(text.encoding)(errors="replace")
    utf8 = io.BytesIO()
    for chunk in _file_chunks(text.path):
        utf8.write(decoder.decode(chunk).encode())
    utf8.write(decoder.decode(b"", final=True).encode())
    utf8.seek(0)
    return utf8


def _read_csv_c(text: _TextFile, max_records: int | None = None) -> list[pa.ChunkedArray]:
    with _wider_rows_refused():
        cells = pd.read_csv(text.path, **_c_engine_options(text), nrows=max_records)
    return [pa.chunked_array(pa.array(cells[column].array)) for column in cells]


@contextlib.contextmanager
def _wider_rows_refused() -> Iterator[None]:
    """The C engine's refusal of a row wider than the first ones, as the user's error."""
    try:
        yield
    except (pd.errors.ParserError, ValueError) as error:
        raise ImportFileError(
            N_(
                "The file could not be read as a table: some rows have more fields than the "
                "first ones. Check the delimiter and the quotes."
            )
        ) from error


def _c_engine_options(text: _TextFile) -> dict:
    return {
        "sep": text.delimiter,
        "encoding": text.encoding,
        "encoding_errors": "replace",
        "header": None,
        "names": range(text.width),
        "dtype": str,
        "na_filter": False,
        "skip_blank_lines": False,
        "skiprows": text.skip,
        "engine": "c",
    }


# Workbooks


def _read_workbook(
    path: Path, suffix: str, sheet: str | None, limits: ImportLimits, max_records: int | None
) -> tuple[_Grid, dict[str, str | list[str]]]:
    not_a_workbook = ImportFileError(
        N_("The file is not a readable %(type)s workbook."), {"type": suffix[1:].upper()}, 415
    )
    try:
        if suffix in XLSX_SUFFIXES:
            _check_zip(path, "xl/workbook.xml", limits)
            grid, sheet, sheet_names = _read_xlsx(path, sheet, limits, max_records)
        else:
            if suffix == ".ods":
                _check_zip(path, "content.xml", limits)
            elif not _starts_with(path, _OLE2_MAGIC):
                raise not_a_workbook
            with contextlib.ExitStack() as stack:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                path = _measured_workbook(path, suffix, sheet, limits, max_records, folder)
                book = stack.enter_context(CalamineWorkbook.from_path(str(path)))
                sheet_names = [
                    meta.name
                    for meta in book.sheets_metadata
                    if meta.typ == SheetTypeEnum.WorkSheet
                ]
                sheet = _choose_sheet(sheet, sheet_names)
                styled = xls_styled if suffix == ".xls" else ods_styled
                grid = _sheet_grid(
                    book, sheet, limits, max_records, lambda end: styled(path, sheet, end)
                )
    except (
        CalamineError,
        KeyError,
        ValueError,
        ElementTree.ParseError,
        expat.ExpatError,
        zipfile.BadZipFile,
        zlib.error,
        OSError,  # olefile's word for a broken XLS container
        struct.error,
    ) as error:
        raise not_a_workbook from error
    return grid, {"sheet": sheet, "sheet_names": sheet_names}


def _measured_workbook(
    path: Path,
    suffix: str,
    sheet: str | None,
    limits: ImportLimits,
    max_records: int | None,
    folder: Path,
) -> Path:
    """The ODS or XLS for calamine to read, measured first; for a preview (`max_records`) a
    copy in `folder` holding only the top, as calamine reads every cell of these on opening."""
    copy = folder / f"top{suffix}"
    if suffix == ".ods":
        if max_records is not None:
            path = _write_ods_top(path, sheet, max_records, copy)
        _check_ods_extent(path, limits)
        return path
    stream, data = _xls_stream(path)
    if max_records is not None and (top := _xls_top(data, max_records)):
        path, data = _write_xls_stream(path, stream, top, copy), top
    _check_xls_extent(data, limits)
    return path


def _read_xlsx(
    path: Path, sheet: str | None, limits: ImportLimits, max_records: int | None
) -> tuple[_Grid, str, list[str]]:
    """The sheet's cells; a preview (`max_records`) reads a copy holding only the top rows,
    because calamine parses a whole sheet before giving any of it."""
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(path) as archive:
            sheets = _xlsx_worksheets(archive)
            sheet = _choose_sheet(sheet, list(sheets))
            if max_records is not None:
                path = Path(folder) / "top.xlsx"
                _write_top_rows(archive, sheets[sheet], max_records, path)
        _check_extent(*_xlsx_extent(path, sheets[sheet]), limits)
        member = sheets[sheet]
        with CalamineWorkbook.from_path(str(path)) as book:
            grid = _sheet_grid(
                book, sheet, limits, max_records, lambda end: xlsx_styled(path, member)
            )
            return grid, sheet, list(sheets)


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as file:
        return file.read(len(magic)) == magic


def _choose_sheet(sheet: str | None, sheet_names: list[str]) -> str:
    if not sheet_names:
        raise ImportFileError(N_("The workbook has no sheets."), status=422)
    if sheet is None:
        return sheet_names[0]
    if sheet not in sheet_names:
        raise ImportFileError(
            N_("There is no sheet “%(sheet)s”. Sheets: %(sheets)s."),
            {"sheet": sheet, "sheets": ", ".join(sheet_names)},
            422,
        )
    return sheet


def _check_zip(path: Path, required_member: str, limits: ImportLimits) -> None:
    """Refuse archives that are not workbooks or unpack to too much, from the directory alone."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if required_member not in {member.filename for member in members}:
        raise ImportFileError(
            N_("The file is a ZIP archive but not a spreadsheet: save it as XLSX, ODS or CSV."),
            status=415,
        )
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise ImportFileError(
            N_("The workbook unpacks to %(size)s MB; at most %(limit)s MB can be imported."),
            {"size": unpacked >> 20, "limit": limits.max_unpacked_bytes >> 20},
            422,
        )
    for member in members:
        ratio_limit = member.compress_size * limits.max_compression_ratio
        if member.file_size > max(_RATIO_FLOOR_BYTES, ratio_limit):
            raise ImportFileError(
                N_(
                    "The workbook is compressed too well to be a real spreadsheet "
                    "(a part unpacks %(ratio)s times larger): it looks like a ZIP bomb."
                ),
                {"ratio": member.file_size // max(member.compress_size, 1)},
                422,
            )


def _xlsx_extent(path: Path, member: str) -> tuple[int, int]:
    """(rows, columns) the sheet's cells reach, found by streaming its XML for r="B7" references.

    calamine allocates the whole rectangle up to the farthest cell before Python can look at
    it: one cell at XFD1048576 would ask for half a terabyte and abort the process. Cells and
    rows may also go without references, placed one after another: those are counted.
    """
    extent = _XlsxExtent()
    with zipfile.ZipFile(path) as archive, archive.open(member) as xml:
        rest = b""
        while chunk := xml.read(_CHUNK_BYTES):
            window = rest + chunk
            # No tag holds a "<": cutting before the last one splits none of them.
            cut = window.rfind(b"<", 1)
            cut = len(window) if cut < 0 else cut
            extent.add(window[:cut])
            rest = window[cut:]
        extent.add(rest)
    return max(extent.rows, extent.counted_rows), extent.columns


class _XlsxExtent:
    """How far the references of sheet XML reach, and how many rows and cells it holds, read
    a window at a time by Arrow's C++, in a third less time than Python's re takes."""

    def __init__(self) -> None:
        self.rows = self.columns = 0
        self.counted_rows = self.open_row_cells = 0

    def add(self, window: bytes) -> None:
        """The next part of the XML, cut between tags."""
        text = pa.array([window], pa.binary())
        after = pc.list_flatten(pc.split_pattern(text, _REF_START))[1:]
        references = pc.extract_regex(after, _REFERENCE).drop_null()
        rows = references.field("row").filter(pc.not_equal(references.field("closed"), b""))
        self.rows = max(self.rows, _largest_number(rows))
        letters = pc.unique(references.field("column")).to_pylist()
        self.columns = max(self.columns, *map(column_number, letters), 0)
        # Cells per row: the first part continues the row left open by the last window.
        parts = pc.list_flatten(pc.split_pattern_regex(text, _ROW_START))
        cells = pc.count_substring_regex(parts, _CELL_START).to_numpy(False, writable=True)
        cells[0] += self.open_row_cells
        self.counted_rows += len(cells) - 1
        self.open_row_cells = int(cells[-1])
        self.columns = max(self.columns, int(cells.max()))


def _largest_number(digits: pa.Array) -> int:
    """The largest of numbers written in decimal `digits`, however long; 0 for none."""
    digits = pc.utf8_ltrim(digits.cast(pa.string()), "0")
    lengths = pc.utf8_length(digits)
    longest = pc.max(lengths).as_py()
    if not longest:
        return 0
    return int(pc.max(digits.filter(pc.equal(lengths, longest))).as_py())


def _check_ods_extent(path: Path, limits: ImportLimits) -> None:
    """Refuse an ODS whose sheets reach too far, from content.xml streamed before calamine reads.

    calamine copies a filled row or cell as many times as table:number-rows-repeated and
    number-columns-repeated say, so one kilobyte can ask for gigabytes; repeated empty cells
    (how LibreOffice pads a sheet to its edges) cost it nothing and are ignored here too.
    """
    scan = _OdsScan(limits)
    parser = expat.ParserCreate()
    # No namespace processing: calamine, too, knows the elements by their usual "table:" names.
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as xml:
        while chunk := xml.read(_SAMPLE_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def _refuse_dtd(*_) -> None:
    # Spreadsheets have no use for a DTD; entities are how XML bombs multiply text.
    raise ValueError("DTD in spreadsheet XML")


class _OdsScan:
    """How far each sheet of ODS content.xml reaches, checked against the limits row by row."""

    def __init__(self, limits: ImportLimits) -> None:
        self.limits = limits
        self.depth = 0
        self.cell_depth = 0  # depth of the open cell, 0 outside cells
        self.earlier_cells = 0  # the extents of the sheets before this one
        self.rows = self.columns = 0  # this sheet's extent: its last filled row and column
        self.row = self.row_repeat = 0
        self.column = self.reach = 0  # within the open row: cells so far, last filled one
        self.cell_repeat, self.cell_filled = 1, False

    def start(self, name: str, attributes: dict[str, str]) -> None:
        """An element opens."""
        self.depth += 1
        if self.depth > _MAX_XML_DEPTH:
            raise ValueError("XML nested too deep")
        if self.cell_depth:
            self.cell_filled = True  # a paragraph or anything else inside the cell
        elif name in _ODS_CELLS:
            self.cell_depth = self.depth
            self.cell_repeat = int(attributes.get("table:number-columns-repeated", 1))
            self.cell_filled = "office:value-type" in attributes or "table:formula" in attributes
        elif name == "table:table-row":
            self.row_repeat = int(attributes.get("table:number-rows-repeated", 1))
            self.column = self.reach = 0
        elif name == "table:table":
            self.earlier_cells += self.rows * self.columns
            self.rows = self.columns = self.row = 0

    def end(self, name: str) -> None:
        """An element closes."""
        if self.depth == self.cell_depth:
            self.cell_depth = 0
            self.column += max(self.cell_repeat, 1)
            if self.cell_filled:
                self.reach = self.column
        elif name == "table:table-row" and not self.cell_depth:
            self.row += max(self.row_repeat, 1)
            if self.reach:
                self.rows, self.columns = self.row, max(self.columns, self.reach)
                _check_extent(self.rows, self.columns, self.limits)
                _check_cells(self.earlier_cells + self.rows * self.columns, self.limits)
        self.depth -= 1


def _check_xls_extent(data: bytes, limits: ImportLimits) -> None:
    """Refuse an XLS whose sheets reach too far, from the cell records of its workbook stream
    `data`, before calamine reads.

    calamine reads every sheet at once, each from where the workbook's list of sheets says it
    starts to its first EOF record, into the rectangle up to its farthest value (blank cells
    and the DIMENSIONS record do not count): a 6 KB file can ask for gigabytes.
    """
    offsets = [offset for offset, _ in xls_sheets(data)]
    extents = {offset: _xls_sheet_extent(data, offset) for offset in set(offsets)}
    for rows, columns in extents.values():
        _check_extent(rows, columns, limits)
    _check_cells(sum(rows * columns for rows, columns in map(extents.get, offsets)), limits)


def _xls_stream(path: Path) -> tuple[str, bytes]:
    """The name and the bytes of an XLS file's workbook stream."""
    with olefile.OleFileIO(str(path)) as container:
        name = "Workbook" if container.exists("Workbook") else "Book"
        return name, container.openstream(name).read()


def _xls_values(data: bytes, offset: int) -> Iterator[tuple[int, int, int]]:
    """(position, row, last column) of each value record of the sheet at `offset`, up to the
    sheet's first EOF record, where calamine stops."""
    unpack, size = _BIFF_HEADER.unpack_from, _BIFF_HEADER.size
    position = offset
    while position + size <= len(data):
        kind, length = unpack(data, position)
        body = position + size
        if kind in _BIFF_VALUES:
            yield position, *unpack(data, body)
        elif kind == _BIFF_MULRK:  # a run of values; its last column ends the record
            yield position, unpack(data, body)[0], unpack(data, body + length - size)[1]
        elif kind == _BIFF_EOF:
            return
        position = body + length


def _xls_sheet_extent(data: bytes, offset: int) -> tuple[int, int]:
    """(rows, columns) the values of the sheet at `offset` reach."""
    rows = columns = 0
    for _, row, column in _xls_values(data, offset):
        rows, columns = max(rows, row + 1), max(columns, column + 1)
    return rows, columns


def _xls_top(data: bytes, max_records: int) -> bytes | None:
    """The workbook stream `data` with every sheet cut after its first `max_records` rows, the
    same size, or None when no sheet is that long.

    An EOF record is written over the first record past the top: readers go no further in
    that sheet, and the stream keeps its size, which is all olefile can write.
    """
    offsets = {offset for offset, _ in xls_sheets(data)}
    cuts = [_xls_top_end(data, offset, max_records) for offset in offsets]
    cuts = [cut for cut in cuts if cut is not None]
    if not cuts:
        return None
    top = bytearray(data)
    for cut in cuts:
        top[cut : cut + _BIFF_HEADER.size] = _BIFF_HEADER.pack(_BIFF_EOF, 0)
    return bytes(top)


def _xls_top_end(data: bytes, offset: int, max_records: int) -> int | None:
    """Where the sheet at `offset` goes past `max_records` rows from its first value, if it
    does; writers put cells in row order, so no cell of the top rows comes later."""
    first = None
    for position, row, _ in _xls_values(data, offset):
        first = row if first is None else min(first, row)
        if row >= first + max_records:
            return position
    return None


def _write_xls_stream(path: Path, stream: str, data: bytes, copy: Path) -> Path:
    """Write the XLS to `copy` with `data` as its workbook `stream`, and return `copy`."""
    shutil.copyfile(path, copy)
    with olefile.OleFileIO(str(copy), write_mode=True) as container:
        container.write_stream(stream, data)
    return copy


def _xlsx_worksheets(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet names, in workbook order, with the archive path of each one's XML."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {
        relation.get("Id"): relation.get("Target", "")
        for relation in relations
        if relation.get("Type", "").endswith("/worksheet")  # not chart sheets
    }
    sheets = {}
    for element in workbook.iter():
        if element.tag.rpartition("}")[2] != "sheet":
            continue
        # The relationship id's namespace differs between transitional and strict OOXML.
        relation_id = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
        if target := targets.get(relation_id):
            name = element.get("name", "")
            sheets[name] = target[1:] if target.startswith("/") else posixpath.join("xl", target)
    return {name: posixpath.normpath(member) for name, member in sheets.items()}


def _write_top_rows(archive: zipfile.ZipFile, member: str, max_records: int, copy: Path) -> None:
    """Write the workbook to `copy` with the sheet cut after its first rows, others left out."""
    with zipfile.ZipFile(copy, "w") as top:
        for info in archive.infolist():
            if info.filename == member:
                top.writestr(member, _top_rows(archive, member, max_records))
            elif not info.filename.startswith("xl/worksheets/"):
                top.writestr(info.filename, archive.read(info))


def _top_rows(archive: zipfile.ZipFile, member: str, max_records: int) -> bytes:
    """The sheet XML up to its `max_records`-th row, closed again so it still parses."""
    head = b""
    with archive.open(member) as xml:
        while chunk := xml.read(_SAMPLE_BYTES):
            head += chunk
            ends = list(islice(_ROW_END.finditer(head), max_records))
            if len(ends) == max_records:
                prefix = ends[-1].group(1) or b""
                closing = b"</%ssheetData></%sworksheet>" % (prefix, prefix)
                return head[: ends[-1].end()] + closing
    return head


def _write_ods_top(path: Path, sheet: str | None, max_records: int, copy: Path) -> Path:
    """Write the ODS to `copy` with the sheet (the first when None) cut after `max_records`
    filled rows and every other sheet emptied, and return `copy`."""
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(copy, "w") as top:
        for info in archive.infolist():
            if info.filename == "content.xml":
                with archive.open(info) as xml:
                    top.writestr(info, _ods_top_rows(xml, sheet, max_records))
            else:
                top.writestr(info, archive.read(info))
    return copy


def _ods_top_rows(xml: IO[bytes], sheet: str | None, max_records: int) -> bytes:
    """content.xml with only the top of one sheet and the other sheets' names, closed at the
    cut whatever follows. Past the cut the file is skipped with bytes.find rather than read
    tag by tag."""
    out: list[bytes] = []
    data, position = b"", 0
    wanted = sheet
    state = "outside"  # or "copy" (the wanted sheet, before the cut) or "skip"
    groups: list[bytes] = []  # row groups open in the wanted sheet
    filled_rows, row_filled = 0, False
    while True:
        if state == "skip":
            end = data.find(_ODS_TABLE_END, position)
            if end >= 0:
                position, state = end + len(_ODS_TABLE_END), "outside"
                continue
            data, position = data[max(position, len(data) - len(_ODS_TABLE_END)) :], 0
        elif tag := _ODS_PART.search(data, position):
            out.append(data[position : tag.end()])
            position = tag.end()
            closing, name, attributes, empty = tag.groups()
            if state == "outside" and name == b"table" and not closing:
                named = _ODS_NAME.search(attributes)
                table = html.unescape(named[1].decode()) if named else ""
                wanted = table if wanted is None else wanted
                if table != wanted:  # another sheet: only its name is needed
                    out.append(_ODS_TABLE_END)
                    state = "skip"
                else:
                    state = "copy"
            elif state == "outside":
                continue
            elif name == b"table":
                state = "outside"
            elif name in _ODS_ROW_GROUPS and not empty:
                groups.pop() if closing else groups.append(name)
            elif name == b"table-row" and not closing:
                row_filled = False
            elif name == b"table-row":
                filled_rows += row_filled
                if filled_rows >= max_records:
                    out.extend(b"</table:%s>" % group for group in reversed(groups))
                    out.append(_ODS_TABLE_END)
                    state = "skip"
            elif not closing and b"office:value-type" in attributes:
                row_filled = True
            continue
        else:
            keep = data.rfind(b"<", position)
            keep = len(data) if keep < 0 else keep
            out.append(data[position:keep])
            data, position = data[keep:], 0
        chunk = xml.read(_SAMPLE_BYTES)
        if not chunk:
            break
        data += chunk
    top = b"".join([*out, b"" if state == "skip" else data[position:]])
    if state == "outside" and top.rstrip().endswith(b"</office:document-content>"):
        return top
    # A file cut short: what a preview read of it is still a whole document.
    return top + b"</office:spreadsheet></office:body></office:document-content>"


def _check_extent(rows: int, columns: int, limits: ImportLimits) -> None:
    _check_width(columns, limits)
    if rows > limits.max_rows + 1:
        raise ImportFileError(
            N_("The file has %(count)s rows; at most %(limit)s can be imported."),
            {"count": rows - 1, "limit": limits.max_rows},
            422,
        )
    _check_cells(rows * columns, limits)


def _check_cells(cells: int, limits: ImportLimits) -> None:
    if cells > limits.max_cells:
        raise ImportFileError(
            N_("The file has %(count)s cells; at most %(limit)s can be imported."),
            {"count": cells, "limit": limits.max_cells},
            422,
        )


def _sheet_grid(
    book: CalamineWorkbook,
    sheet: str,
    limits: ImportLimits,
    max_records: int | None,
    styled: Callable[[tuple[int, int]], Styled | None],
) -> _Grid:
    """The sheet's cells as text, shown through the number formats that `styled` finds for
    the cells up to the last one read, (row, column)."""
    data = book.get_sheet_by_name(sheet)
    if data.start is None:
        raise ImportFileError(N_("The sheet “%(sheet)s” is empty."), {"sheet": sheet}, 422)
    _check_extent(data.height, data.width, limits)
    # skip_empty_area: start at the first used cell rather than fill the area before it.
    records = data.to_python(skip_empty_area=True, nrows=max_records)
    first_row, first_column = data.start
    end = (first_row + len(records) - 1, first_column + data.width - 1)
    cells = styled(end)
    formats = (
        cells.by_column(first_row, first_column, len(records), data.width)
        if cells
        else ([] for _ in range(data.width))
    )
    # A comprehension per column: zip(*records) takes a few times longer over many rows.
    by_column = ([record[j] for record in records] for j in range(data.width))
    columns = [
        pa.chunked_array([column_texts(values, column_formats)], pa.string())
        for values, column_formats in zip(by_column, formats, strict=True)
    ]
    return _Grid(columns, first_row + 1, first_column + 1)


# From cells to a table


def _tabulate(grid: _Grid, limits: ImportLimits, region: str, **source) -> Table:
    """Find the header (first non-blank row), drop blank rows and empty columns, name columns."""
    columns = [_cleaned(column) for column in grid.columns]
    filled = _filled(columns)
    nonblank = filled.any(axis=1)
    if not nonblank.any():
        raise ImportFileError(N_("The file is empty."), status=422)
    header_at = int(nonblank.argmax())
    header = [column[header_at].as_py() for column in columns]
    headerless = _is_phone_list(header, region)
    if headerless:
        header = [""] * len(header)
    data_from = header_at if headerless else header_at + 1
    data_at = np.flatnonzero(nonblank[data_from:]) + data_from
    if len(data_at) == 0:
        raise _no_data_rows()
    # Blank rows fill nothing, so a column is used if its header or any cell below is filled.
    used = np.flatnonzero(filled[header_at:].any(axis=0))
    _check_extent(len(data_at) + 1, len(used), limits)
    names = _unique_names([header[j] or f"column_{grid.first_column + j}" for j in used])
    cells = _cells(names, [columns[j] for j in used], data_at)
    return Table(columns=names, cells=cells, rows=data_at + grid.first_row, **source)


def _tabulated_blocks(
    blocks: Iterator[list[pa.ChunkedArray]], limits: ImportLimits, region: str, **source
) -> Iterator[Table]:
    """`_tabulate` a block of records at a time, for a file whose header names every column:
    only a blank header cell leaves a column's fate to the cells below, down to the last row.
    Otherwise `_NotStreamable` comes before the first table."""
    names: list[str] = []
    records = data_rows = 0
    for block in blocks:
        columns = [_cleaned(column) for column in block]
        nonblank = _filled(columns).any(axis=1)
        data_from = 0
        if not names and nonblank.any():
            data_from = int(nonblank.argmax())
            header = [column[data_from].as_py() for column in columns]
            if not all(header) or _is_phone_list(header, region):
                raise _NotStreamable
            names = _unique_names(header)
            data_from += 1
        data_at = np.flatnonzero(nonblank[data_from:]) + data_from
        data_rows += len(data_at)
        # Past a limit the rest is only counted, for the refusal to tell the file's size.
        within = data_rows <= limits.max_rows and (data_rows + 1) * len(names) <= limits.max_cells
        if names and len(data_at) and within:
            cells = _cells(names, columns, data_at)
            yield Table(columns=names, cells=cells, rows=data_at + records + 1, **source)
        records += len(nonblank)
    if not names:
        raise ImportFileError(N_("The file is empty."), status=422)
    if not data_rows:
        raise _no_data_rows()
    _check_extent(data_rows + 1, len(names), limits)


class _NotStreamable(Exception):
    """The file must be tabulated whole."""


def _no_data_rows() -> ImportFileError:
    return ImportFileError(N_("The file has a header row but no data rows."), status=422)


def _cleaned(column: pa.ChunkedArray) -> pa.Array:
    # One chunk per column: taking rows from many small chunks later costs several times more.
    return _without_nul(pc.utf8_trim_whitespace(column).combine_chunks())


def _filled(columns: list[pa.Array]) -> np.ndarray:
    """Which cells hold something, rows by columns."""
    return np.column_stack(
        [pc.not_equal(column, "").to_numpy(zero_copy_only=False) for column in columns]
    )


def _is_phone_list(header: list[str], region: str) -> bool:
    """A phone number where a column name should be: a bare list of numbers, with no header."""
    return bool(normalize_phones(pd.Series(header, dtype="str"), region)[0].notna().any())


def _cells(names: list[str], columns: list[pa.Array], data_at: np.ndarray) -> pd.DataFrame:
    """The data rows `data_at` of the columns, named."""
    contiguous = data_at[-1] - data_at[0] + 1 == len(data_at)
    return pd.DataFrame(
        {
            name: pd.array(
                column.slice(data_at[0], len(data_at)) if contiguous else column.take(data_at),
                dtype="str",
            )
            for name, column in zip(names, columns, strict=True)
        }
    )


def _without_nul(column: pa.Array) -> pa.Array:
    """The column without NUL characters: no spreadsheet means them, and PostgreSQL text cannot
    hold them. Looking for a zero byte costs far less than rewriting every string."""
    data = column.buffers()[2]
    if data is None or np.count_nonzero(np.frombuffer(data, np.uint8)) == data.size:
        return column
    return pc.replace_substring(column, "\0", "")


def _unique_names(names: list[str]) -> list[str]:
    """Repeated header names become "Имя", "Имя (2)", … so every column can be addressed."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, copy = name[:MAX_NAME_CHARS], 1
        while candidate in seen:
            copy += 1
            suffix = f" ({copy})"
            candidate = name[: MAX_NAME_CHARS - len(suffix)] + suffix
        seen.add(candidate)
        unique.append(candidate)
    return unique
