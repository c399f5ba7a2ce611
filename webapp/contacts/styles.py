"""Which workbook cells have a number format, and cells as text through their formats.

calamine gives cell values without formats, so each reader here finds the formatted cells
itself: XLSX from ``xl/styles.xml`` (numFmts, cellXfs) and each cell's ``s="N"``; XLS from the
BIFF FORMAT and XF records, through xlrd; ODS from the data styles (``number:date-style``…) of
``styles.xml`` and ``content.xml`` and each cell's style. Only cells whose format is not
General are collected, so a file with none costs next to nothing. ``webapp.formats`` shows the
values.
"""

from __future__ import annotations

import contextlib
import html
import re
import struct
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xlrd
from xlrd.compdoc import CompDocError

from webapp.formats import CellFormat, builtin_format, cell_text

_CHUNK_BYTES = 1 << 22
# Where a cell of sheet XML starts, and the rest of its tag when it has one of the styles
# (%s) that carry a number format: <c r="B7" s="3" t="n">.
_XLSX_CELL_START = b'c r="'
_XLSX_STYLED_CELL = r'^(?P<column>[A-Z]+)(?P<row>[0-9]+)"[^>]*?\ss="(?P<style>%s)"'


@dataclass
class Styled:
    """Cells with a number format, 0-based: cell i is at (rows[i], columns[i]) and is shown
    through ``formats[which[i]]``."""

    rows: np.ndarray
    columns: np.ndarray
    which: np.ndarray
    formats: list[CellFormat]

    def by_column(
        self, first_row: int, first_column: int, height: int, width: int
    ) -> Iterator[list[tuple[CellFormat, np.ndarray]]]:
        """For each column of a grid read from (first_row, first_column), its formatted cells:
        (format, rows in the grid) for each format."""
        rows, columns = self.rows - first_row, self.columns - first_column
        inside = (rows >= 0) & (rows < height) & (columns >= 0) & (columns < width)
        rows, columns, which = rows[inside], columns[inside], self.which[inside]
        order = np.lexsort((which, columns))
        rows, columns, which = rows[order], columns[order], which[order]
        bounds = np.searchsorted(columns, np.arange(width + 1))
        for column in range(width):
            start, end = bounds[column], bounds[column + 1]
            cuts = np.flatnonzero(np.diff(which[start:end])) + 1
            groups = np.split(np.arange(start, end), cuts) if end > start else []
            yield [(self.formats[which[group[0]]], rows[group]) for group in groups]


def column_texts(values: Sequence, formats: list[tuple[CellFormat, np.ndarray]]) -> list[str]:
    """A column's cells as text: through their number formats, else as in General."""
    texts = list(values)
    for cell_format, rows in formats:
        shown: dict[object, str] = {}  # a column repeats its dates and amounts
        for row in rows.tolist():
            value = values[row]
            if type(value) is str and (duration := _DURATION.match(value)):
                value = _timedelta(duration)  # calamine leaves ODS times past 24 h as text
            elif type(value) is str or type(value) is bool:
                continue
            text = shown.get(value)
            if text is None:
                text = shown[value] = cell_format.text(value)
            texts[row] = text
    return [v if type(v) is str else cell_text(v) for v in texts]


def _timedelta(duration: re.Match[str]) -> timedelta:
    hours, minutes, seconds = duration.groups()
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


def column_number(letters: bytes | str) -> int:
    """1 for A, 27 for AA."""
    number = 0
    for letter in letters.encode() if isinstance(letters, str) else letters:
        number = number * 26 + letter - ord("A") + 1
    return number


def _styled(
    rows: np.ndarray, columns: np.ndarray, styles: np.ndarray, formats: dict[int, CellFormat]
) -> Styled | None:
    """Cells at (rows, columns) with style numbers `styles`, each a key of `formats`."""
    if not len(rows):
        return None
    catalog = list(formats)
    position = np.zeros(max(catalog) + 1, np.int64)
    position[catalog] = np.arange(len(catalog))
    return Styled(rows, columns, position[styles], [formats[index] for index in catalog])


# XLSX


def xlsx_styled(path: Path, member: str) -> Styled | None:
    """The formatted cells of the sheet at `member`; None when no cell style has a format.

    Arrow splits the sheet's XML at each cell and matches the pieces in C++: a Python regular
    expression over 100k rows costs more than calamine's whole read. Every common writer puts
    a cell's r="B7" first; a cell without it there keeps General.
    """
    with zipfile.ZipFile(path) as archive:
        formats = _xlsx_cell_formats(archive)
        if not formats:
            return None
        pattern = _XLSX_STYLED_CELL % "|".join(map(str, formats))
        found = []
        with archive.open(member) as xml:
            tail = b""
            while chunk := xml.read(_CHUNK_BYTES):
                window = tail + chunk
                # Cut after the last complete tag, so no cell is split between windows.
                cut = window.rfind(b">") + 1
                cells = pc.list_flatten(pc.split_pattern([window[:cut]], _XLSX_CELL_START))
                found.append(pc.extract_regex(cells, pattern).drop_null())
                tail = window[cut:]
    cells = pa.chunked_array(found).combine_chunks()
    letters = cells.field("column").dictionary_encode()
    numbers = np.array([column_number(name) - 1 for name in letters.dictionary.to_pylist()])
    return _styled(
        pc.cast(cells.field("row"), pa.int64()).to_numpy() - 1,
        numbers[letters.indices.to_numpy()].astype(np.int64),
        pc.cast(cells.field("style"), pa.int64()).to_numpy(),
        formats,
    )


def _xlsx_cell_formats(archive: zipfile.ZipFile) -> dict[int, CellFormat]:
    """Cell style index → its number format, for the styles whose format is not General."""
    try:
        styles = ElementTree.fromstring(archive.read("xl/styles.xml"))
    except KeyError:
        return {}
    codes: dict[int, str] = {}
    cell_styles: list[int] = []
    for element in styles:
        name = element.tag.rpartition("}")[2]
        if name == "numFmts":
            for number_format in element:
                with contextlib.suppress(KeyError, ValueError):
                    code = number_format.attrib["formatCode"]
                    codes[int(number_format.attrib["numFmtId"])] = code
        elif name == "cellXfs":
            cell_styles = [int(xf.get("numFmtId") or 0) for xf in element]
    return _not_general(codes, cell_styles)


def _not_general(codes: dict[int, str], cell_styles: list[int]) -> dict[int, CellFormat]:
    """Style index → format, for styles (format ids) whose format is not General; a file's own
    code for an id wins over the built-in one."""
    formats = {}
    for index, format_id in enumerate(cell_styles):
        cell_format = CellFormat.compile(codes.get(format_id) or builtin_format(format_id))
        if not cell_format.general:
            formats[index] = cell_format
    return formats


# XLS


def xls_styled(path: Path, sheet: str, end: tuple[int, int]) -> Styled | None:
    """The formatted numeric cells of the sheet up to row end[0]; None, without reading the
    sheet, when no style has a format.

    xlrd reads the workbook's FORMAT and XF records; the sheet's own records are walked here,
    looking only at numeric cells and stopping after the last row wanted: xlrd would read the
    whole sheet into Python objects, many times slower than calamine. A workbook calamine
    reads but xlrd does not is read without formats: its values are all there.
    """
    try:
        book = xlrd.open_workbook(path, formatting_info=True, on_demand=True)
    except (xlrd.XLRDError, CompDocError, struct.error):
        return None
    with book:
        codes = {number_format.format_key: number_format.format_str
                 for number_format in book.format_list}  # fmt: skip
        formats = _not_general(codes, [style.format_key for style in book.xf_list])
        if not formats or sheet not in book.sheet_names():
            return None
        # book.mem holds the workbook stream from book.base (the whole file when contiguous).
        worksheets = [offset for offset, kind in xls_sheets(book.mem, book.base) if kind == 0]
        start = book.base + worksheets[book.sheet_names().index(sheet)]
        cells = _xls_numeric_cells(book.mem, start, end[0])
    rows, columns, styles = (np.array(part, np.int64) for part in cells)
    wanted = np.isin(styles, list(formats))
    return _styled(rows[wanted], columns[wanted], styles[wanted], formats)


_BIFF_EOF, _BIFF_BOUNDSHEET = 0x000A, 0x0085
_BIFF_NUMBER, _BIFF_RK, _BIFF_FORMULA, _BIFF_MULRK = 0x0203, 0x027E, 0x0006, 0x00BD
# Excel writes cells in blocks of 32 rows, each block's rows in order.
_BIFF_ROW_BLOCK = 32


def xls_sheets(stream: bytes, position: int = 0) -> list[tuple[int, int]]:
    """(offset, kind) of each sheet, from the BOUNDSHEET records of the workbook globals at
    `position` of the workbook stream."""
    sheets = []
    while position + 4 <= len(stream):
        code, length = struct.unpack_from("<HH", stream, position)
        if code == _BIFF_BOUNDSHEET:
            offset, _, kind = struct.unpack_from("<IBB", stream, position + 4)
            sheets.append((offset, kind))
        elif code == _BIFF_EOF:
            break
        position += 4 + length
    return sheets


def _xls_numeric_cells(
    stream: bytes, position: int, last_row: int
) -> tuple[list[int], list[int], list[int]]:
    """(rows, columns, XF indexes) of the numeric cells of the sheet starting at `position`."""
    rows: list[int] = []
    columns: list[int] = []
    styles: list[int] = []
    while position + 4 <= len(stream):
        code, length = struct.unpack_from("<HH", stream, position)
        data = position + 4
        position = data + length
        if code in (_BIFF_NUMBER, _BIFF_RK, _BIFF_FORMULA):
            row, column, style = struct.unpack_from("<HHH", stream, data)
            rows.append(row)
            columns.append(column)
            styles.append(style)
        elif code == _BIFF_MULRK:
            row, first = struct.unpack_from("<HH", stream, data)
            count = (length - 6) // 6
            rows.extend([row] * count)
            columns.extend(range(first, first + count))
            styles.extend(struct.unpack_from("<" + "Hxxxx" * count, stream, data + 4))
        elif code == _BIFF_EOF:
            break
        else:
            continue
        if row > last_row + _BIFF_ROW_BLOCK:
            break
    return rows, columns, styles


# ODS

_ODS_NUMERIC = {b"float", b"percentage", b"currency", b"date", b"time"}
_ODS_TAG = re.compile(
    rb"<(/?)table:(table|table-column|table-row|table-cell|covered-table-cell)(?=[\s/>])"
    rb"([^>]*?)(/?)>"
)
_ODS_ATTRIBUTE = re.compile(rb'([\w-]+:[\w-]+)="([^"]*)"')
_NS = {
    "number": "urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
}
_NUMBER, _STYLE = "{%s}" % _NS["number"], "{%s}" % _NS["style"]  # noqa: UP031
_DURATION = re.compile(r"^PT(\d+)H(\d+)M(\d+(?:\.\d+)?)S$")
_CONDITION = re.compile(r"^value\(\)\s*(<=|>=|!=|<|>|=)\s*(-?[\d.]+)$")


def ods_styled(path: Path, sheet: str, end: tuple[int, int]) -> Styled | None:
    """The formatted numeric cells of the sheet up to its last cell `end` (row, column), from
    their own style or their row's or column's default.

    Every ODS writer uses the usual prefixes (table:, office:), which the scan relies on.
    Styles that do not parse leave the cells in General: calamine has read their values.
    """
    with zipfile.ZipFile(path) as archive:
        try:
            roots = [_ods_content_head(archive)]
            with contextlib.suppress(KeyError):
                roots.insert(0, ElementTree.fromstring(archive.read("styles.xml")))
        except ElementTree.ParseError:
            return None
        formats = _ods_cell_formats(roots)
        if not formats:
            return None
        names = {name.encode(): i for i, name in enumerate(formats)}
        with archive.open("content.xml") as xml:
            cells = _ods_scan(xml, sheet.encode(), names, end)
    return _styled(*cells, dict(enumerate(formats.values())))


def _ods_content_head(archive: zipfile.ZipFile) -> ElementTree.Element:
    """content.xml up to its body: the automatic styles, without reading the cells."""
    head = b""
    with archive.open("content.xml") as xml:
        while chunk := xml.read(1 << 16):
            head += chunk
            if (end := head.find(b"<office:body")) >= 0:
                return ElementTree.fromstring(head[:end] + b"</office:document-content>")
    return ElementTree.fromstring(head)


def _ods_cell_formats(roots: list[ElementTree.Element]) -> dict[str, CellFormat]:
    """Cell style name → number format, for the cell styles whose data style is not General."""
    data_styles: dict[str, ElementTree.Element] = {}
    cell_styles: dict[str, tuple[str | None, str | None]] = {}
    style_ns, number_ns = _STYLE, _NUMBER
    for root in roots:
        for element in root.iter():
            name = element.get(f"{style_ns}name")
            if name is None:
                continue
            if element.tag.startswith(number_ns) and element.tag.endswith("-style"):
                data_styles[name] = element
            elif element.tag == f"{style_ns}style" and element.get(f"{style_ns}family") == (
                "table-cell"
            ):
                cell_styles[name] = (
                    element.get(f"{style_ns}data-style-name"),
                    element.get(f"{style_ns}parent-style-name"),
                )
    formats = {}
    for name in cell_styles:
        data_style, parent, seen = None, name, set()
        while data_style is None and parent in cell_styles and parent not in seen:
            seen.add(parent)
            data_style, parent = cell_styles[parent]
        if data_style in data_styles:
            code = _ods_code(data_styles[data_style], data_styles)
            if not (cell_format := CellFormat.compile(code)).general:
                formats[name] = cell_format
    return formats


def _ods_code(style: ElementTree.Element, data_styles: dict[str, ElementTree.Element]) -> str:
    """An ODS data style as an Excel format code; style:map conditions become sections."""
    sections = []
    for mapping in style.findall("style:map", _NS):
        condition = _CONDITION.match(mapping.get(f"{{{_NS['style']}}}condition", ""))
        target = data_styles.get(mapping.get(f"{{{_NS['style']}}}apply-style-name", ""))
        if condition and target is not None:
            operator = "<>" if condition[1] == "!=" else condition[1]
            sections.append(f"[{operator}{condition[2]}]{_ods_section(target)}")
    return ";".join([*sections, _ods_section(style)])


def _ods_section(style: ElementTree.Element) -> str:
    number = _NUMBER
    kind = style.tag.removeprefix(number)
    elapsed = style.get(f"{number}truncate-on-overflow") == "false"
    code = []
    for part in style:
        tag = part.tag.removeprefix(number)
        long = part.get(f"{number}style") == "long"
        if tag == "text":
            text = part.text or ""
            # In a percentage style the "%" is the one that multiplies by 100.
            code.append("%" if kind == "percentage-style" and text == "%" else _quoted(text))
        elif tag == "number":
            code.append(_ods_number(part))
        elif tag == "scientific-number":
            places = int(part.get(f"{number}decimal-places") or 0)
            exponent = int(part.get(f"{number}min-exponent-digits") or 2)
            code.append("0" + ("." + "0" * places if places else "") + "E+" + "0" * exponent)
        elif tag == "fraction":
            digits = int(part.get(f"{number}min-denominator-digits") or 1)
            denominator = part.get(f"{number}denominator-value")
            code.append("# " + "?" * digits + "/" + (denominator or "?" * digits))
        elif tag == "currency-symbol":
            code.append(_quoted(part.text or "₽"))
        elif tag == "text-content":
            code.append("@")
        elif tag in _ODS_DATE_PARTS:
            code.append(_ODS_DATE_PARTS[tag](part, long, elapsed))
    text = "".join(code)
    return text or "General"


def _ods_number(part: ElementTree.Element) -> str:
    number = _NUMBER
    places = int(part.get(f"{number}decimal-places") or 0)
    minimum_places = int(part.get(f"{number}min-decimal-places") or places)
    integers = int(part.get(f"{number}min-integer-digits") or 1)
    whole = "0" * integers or "#"
    if part.get(f"{number}grouping") == "true":
        whole = "#,##" + whole
    fraction = "0" * minimum_places + "#" * (places - minimum_places)
    factor = int(float(part.get(f"{number}display-factor") or 1))
    scale = "," * ((len(str(factor)) - 1) // 3)  # 1000 shows thousands: "0,"
    return whole + ("." + fraction if fraction else "") + scale


def _ods_hours(part: ElementTree.Element, long: bool, elapsed: bool) -> str:
    hours = "hh" if long else "h"
    return f"[{hours}]" if elapsed else hours


def _ods_seconds(part: ElementTree.Element, long: bool, elapsed: bool) -> str:
    places = int(part.get(f"{_NUMBER}decimal-places") or 0)
    return ("ss" if long else "s") + ("." + "0" * places if places else "")


def _ods_month(part: ElementTree.Element, long: bool, elapsed: bool) -> str:
    if part.get(f"{_NUMBER}textual") == "true":
        return "mmmm" if long else "mmm"
    return "mm" if long else "m"


_ODS_DATE_PARTS = {
    "day": lambda part, long, elapsed: "dd" if long else "d",
    "month": _ods_month,
    "year": lambda part, long, elapsed: "yyyy" if long else "yy",
    "day-of-week": lambda part, long, elapsed: "dddd" if long else "ddd",
    "hours": _ods_hours,
    "minutes": lambda part, long, elapsed: "mm" if long else "m",
    "seconds": _ods_seconds,
    "am-pm": lambda part, long, elapsed: "AM/PM",
}


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "") + '"' if text else ""


def _ods_scan(
    xml, sheet: bytes, names: dict[bytes, int], end: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, styles) of the sheet's numeric cells whose style is in `names`."""
    cells: list[tuple[int, int, int]] = []  # (row, column, style)
    blocks: list[tuple[int, int, int, int, int]] = []  # repeated: (row, rows, column, columns, …)
    column_defaults: list[tuple[int, int, bytes | None]] = []  # (first, past last, style)
    inside, row, row_repeat, row_default, column = False, -1, 1, None, 0
    last_row, last_column = end
    tail = b""
    while chunk := xml.read(_CHUNK_BYTES):
        window = tail + chunk
        cut = window.rfind(b">") + 1
        tail = window[cut:]
        for closing, tag, attributes, _ in _ODS_TAG.findall(window, 0, cut):
            if tag == b"table":
                if closing and inside:
                    return _ods_cells(cells, blocks, end)
                if not closing:
                    name = dict(_ODS_ATTRIBUTE.findall(attributes)).get(b"table:name", b"")
                    inside = html.unescape(name.decode()).encode() == sheet
                continue
            if not inside or closing:
                continue
            attrs = dict(_ODS_ATTRIBUTE.findall(attributes)) if attributes else {}
            if tag == b"table-column":
                first = column_defaults[-1][1] if column_defaults else 0
                repeat = int(attrs.get(b"table:number-columns-repeated", 1))
                column_defaults.append(
                    (first, first + repeat, attrs.get(b"table:default-cell-style-name"))
                )
            elif tag == b"table-row":
                row += row_repeat
                if row > last_row:
                    return _ods_cells(cells, blocks, end)
                row_repeat = int(attrs.get(b"table:number-rows-repeated", 1))
                row_default = attrs.get(b"table:default-cell-style-name")
                column = 0
            else:
                repeat = int(attrs.get(b"table:number-columns-repeated", 1))
                if attrs.get(b"office:value-type") in _ODS_NUMERIC and column <= last_column:
                    style = attrs.get(b"table:style-name") or row_default
                    style = style or _column_default(column_defaults, column)
                    if style in names and row_repeat == repeat == 1:
                        cells.append((row, column, names[style]))
                    elif style in names:
                        blocks.append((row, row_repeat, column, repeat, names[style]))
                column += repeat
    return _ods_cells(cells, blocks, end)


def _ods_cells(
    cells: list[tuple[int, int, int]],
    blocks: list[tuple[int, int, int, int, int]],
    end: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single cells and repeated blocks as (rows, columns, styles), blocks cut at `end`."""
    parts = [np.array(cells, np.int64).reshape(-1, 3)]
    for row, rows, column, columns, style in blocks:
        rows, columns = min(rows, end[0] + 1 - row), min(columns, end[1] + 1 - column)
        grid = np.mgrid[row : row + rows, column : column + columns].reshape(2, -1)
        parts.append(np.column_stack([grid.T, np.full(grid.shape[1], style)]))
    rows, columns, styles = np.concatenate(parts).T
    return rows, columns, styles


def _column_default(defaults: list[tuple[int, int, bytes | None]], column: int) -> bytes | None:
    for first, end, style in defaults:
        if first <= column < end:
            return style
    return None
