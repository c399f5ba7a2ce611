"""Files people download to open in Excel: CSV for Russian Excel and XLSX, built column-wise.

Every download Volna writes goes through here, so every cell passes ``neutralize``: text a
spreadsheet would run as a formula gets a leading apostrophe (OWASP "CSV injection"). Rows come
as Arrow tables of text columns and are turned into bytes with Arrow compute functions, never
per row in Python, so a million rows take seconds and memory stays at one batch.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.compute as pc

from .columns import joined_rows, literal, may_hold

BOM = "\ufeff".encode()
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's row limit is 1,048,576 per sheet; each sheet repeats the header row.
SHEET_ROWS = 1_048_575
CHUNK_BYTES = 1 << 16
PIECE_ROWS = 10_000

# Text a spreadsheet evaluates: = + - @ (or their full-width forms) after optional blanks, or a
# leading tab or line break...
_FORMULA = r"^(\s*[=+\-@＝＋－＠]|[\t\r\n])"
# ...so it starts with one of these (\s is [\t\n\f\r ] to Arrow's RE2).
_FORMULA_STARTS = pa.array([*"\t\n\f\r =+-@＝＋－＠"], pa.large_string())
# ...unless the whole cell is a plain number like -5, +7 or 1,5, which cannot call anything.
_NUMBER = r"^[+-]?[0-9][0-9.,]*$"
# Cells Python's csv module (QUOTE_MINIMAL) would quote.
_CSV_SPECIAL = r'[;"\r\n]'
# Characters XML 1.0 cannot hold at all, even escaped.
_XML_FORBIDDEN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"


def neutralize(cells: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The cells as text (null → ""), those a spreadsheet would run as a formula led by ``'``."""
    text = pc.fill_null(pc.cast(cells, pa.large_string()), "")
    # The usual case, told by first characters at a third of the regular expression's cost.
    if not pc.any(pc.is_in(pc.utf8_slice_codeunits(text, 0, 1), _FORMULA_STARTS)).as_py():
        return text
    risky = pc.match_substring_regex(text, _FORMULA)
    risky = pc.and_not(risky, pc.match_substring_regex(text, _NUMBER))
    return pc.if_else(risky, pc.binary_join_element_wise(literal("'"), text, literal("")), text)


def translated(texts: pa.Array, translate: Callable[[str], str | None]) -> pa.Array:
    """Each text translated (kept when ``translate`` gives nothing), each distinct text once."""
    distinct = pc.unique(texts).drop_null()
    translations = pa.array([translate(text) or text for text in distinct.to_pylist()], pa.string())
    return pc.take(translations, pc.index_in(texts, value_set=distinct))


def csv_for_excel(header: Sequence[str], tables: Iterable[pa.Table]) -> Iterator[bytes]:
    """CSV as Russian Excel opens it on a double click: UTF-8 with BOM, ``;``, CRLF.

    ``tables`` are the rows in batches, one column per header name; yields one chunk a batch.
    """
    yield BOM + _csv_lines(_header_table(header))
    for table in _pieces(tables):
        yield _csv_lines(table)


def xlsx_for_excel(
    header: Sequence[str],
    tables: Iterable[pa.Table],
    sheet_name: str = "Sheet",
    rows_per_sheet: int = SHEET_ROWS,
) -> Iterator[bytes]:
    """An XLSX workbook, every cell text, the header bold and frozen; read out in chunks.

    The sheet XML is generated column-wise and zipped at the fastest level on a temporary file,
    so memory stays at one batch; past ``rows_per_sheet`` rows the rows go on in a new sheet.
    """
    header_row = _xlsx_rows(_header_table(header), style=' s="1"')
    with tempfile.TemporaryFile() as file:
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            sheets = 0
            for part in _sheets(_pieces(tables), rows_per_sheet):
                sheets += 1
                name = f"xl/worksheets/sheet{sheets}.xml"
                with archive.open(name, "w", force_zip64=True) as xml:
                    xml.write(_SHEET_START + header_row)
                    for table in part:
                        xml.write(_xlsx_rows(table))
                    xml.write(_SHEET_END)
            for name, content in _package(sheets, sheet_name).items():
                archive.writestr(name, content)
        file.seek(0)
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _header_table(header: Sequence[str]) -> pa.Table:
    return pa.table({str(i): pa.array([name]) for i, name in enumerate(header)})


def _csv_lines(table: pa.Table) -> bytes:
    cells = []
    for column in table.columns:
        text = neutralize(column)
        if may_hold(text, b';"\r\n'):
            special = pc.match_substring_regex(text, _CSV_SPECIAL)
            quoted = pc.binary_join_element_wise(
                literal('"'), pc.replace_substring(text, '"', '""'), literal('"'), literal("")
            )
            text = pc.if_else(special, quoted, text)
        cells.append(text)
    return joined_rows([pc.binary_join_element_wise(*cells, literal(";")), literal("\r\n")])


def _xlsx_rows(table: pa.Table, style: str = "") -> bytes:
    """The table as sheet rows of inline strings (no shared-string table to keep in memory)."""
    start = literal(f'<c t="inlineStr"{style}><is><t>')
    # Only text with blanks at its ends needs them kept: most cells spare the bytes.
    padded_start = literal(f'<c t="inlineStr"{style}><is><t xml:space="preserve">')
    parts: list[pa.Array | pa.Scalar] = [literal("<row>")]
    for column in table.columns:
        text = neutralize(column)
        if may_hold(text, b"&<>\xef", below=0x20):  # \xef leads U+FFFE and U+FFFF
            text = _xml_escaped(text)
        # Trimming compares faster than a regular expression (\v, the one more blank, is gone).
        trimmed = pc.binary_length(pc.ascii_trim_whitespace(text))
        padded = pc.not_equal(trimmed, pc.binary_length(text))
        opening = pc.if_else(padded, padded_start, start) if pc.any(padded).as_py() else start
        empty = pc.equal(text, "")
        if pc.any(empty).as_py():
            parts += [
                pc.if_else(empty, _EMPTY_CELL, opening),
                text,
                pc.if_else(empty, literal(""), _CELL_END),
            ]
        else:
            parts += [opening, text, _CELL_END]
    # One join for the whole row: no array of cells is built on the way.
    return joined_rows([*parts, literal("</row>")])


def _xml_escaped(text: pa.Array) -> pa.Array:
    text = pc.replace_substring(text, "&", "&amp;")
    text = pc.replace_substring(pc.replace_substring(text, "<", "&lt;"), ">", "&gt;")
    text = pc.replace_substring(text, "\r", "&#13;")  # else XML readers make it a \n
    return pc.replace_substring_regex(text, _XML_FORBIDDEN, "")


def _pieces(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """The rows in slices of ``PIECE_ROWS``: each step's arrays stay small and short-lived."""
    for table in tables:
        for start in range(0, table.num_rows, PIECE_ROWS):
            yield table.slice(start, PIECE_ROWS)


def _sheets(tables: Iterable[pa.Table], rows_per_sheet: int) -> Iterator[Iterator[pa.Table]]:
    """The tables cut into runs of at most ``rows_per_sheet`` rows, one run a sheet."""
    tables = iter(tables)
    left: list[pa.Table] = []  # what did not fit on the sheet before

    def sheet() -> Iterator[pa.Table]:
        room = rows_per_sheet
        while room and (table := left.pop() if left else next(tables, None)) is not None:
            if table.num_rows > room:
                left.append(table.slice(room))
                table = table.slice(0, room)
            room -= table.num_rows
            yield table

    yield sheet()  # a workbook has one sheet even with no rows
    while left or (table := next(tables, None)) is not None:
        if not left:
            left.append(table)
        yield sheet()


_CELL_END = literal("</t></is></c>")
_EMPTY_CELL = literal("<c/>")  # keeps the next cells in their columns
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_START = (
    f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN}"><sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    "</sheetView></sheetViews><sheetData>"
).encode()
_SHEET_END = b"</sheetData></worksheet>"
_STYLES = (
    f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _package(sheets: int, sheet_name: str) -> dict[str, str]:
    """The workbook's parts besides the sheets: content types, relationships, names, styles."""
    numbers = range(1, sheets + 1)
    base = escape(sheet_name[:25], {'"': "&quot;"})
    names = [base if n == 1 else f"{base} {n}" for n in numbers]
    sheet_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    return {
        "[Content_Types].xml": (
            f'{_XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{office}.styles+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{sheet_type}"/>'
                for n in numbers
            )
            + "</Types>"
        ),
        "_rels/.rels": (
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">'
            f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{_XML_DECLARATION}<workbook xmlns="{_MAIN}" xmlns:r="{_RELATIONSHIPS}"><sheets>'
            + "".join(
                f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>'
                for n, name in zip(numbers, names, strict=True)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_RELATIONSHIPS}">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{_RELATIONSHIPS}/worksheet" '
                f'Target="worksheets/sheet{n}.xml"/>'
                for n in numbers
            )
            + f'<Relationship Id="rId{sheets + 1}" Type="{_RELATIONSHIPS}/styles" '
            'Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": _STYLES,
    }
