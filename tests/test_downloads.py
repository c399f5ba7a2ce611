"""The writers every download goes through: cells made inert, CSV for Russian Excel, XLSX."""

import csv
import io
import subprocess
import sys

import openpyxl
import pyarrow as pa
import pytest

from webapp.downloads import csv_for_excel, neutralize, xlsx_for_excel

HEADER = ["Телефон", "Статус", "Имя"]
# What a prankster or an attacker types into a client list, and what Excel must not run.
FORMULAS = [
    "-1+cmd|' /C calc'!A0",
    '+(1+1)*HYPERLINK("http://evil.test")',
    '=HYPERLINK("http://evil.test")',
    "@SUM(A1)",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    " =1+2",
    "＝1+2",
    "+7 924 555-10-00",
]


def table(*columns: list) -> pa.Table:
    return pa.table([pa.array(column) for column in columns], names=HEADER[: len(columns)])


@pytest.mark.parametrize("text", FORMULAS)
def test_formulas_get_a_leading_apostrophe(text):
    assert neutralize(pa.array([text])).to_pylist() == ["'" + text]


@pytest.mark.parametrize("text", ["79243555100", "-5", "+7", "1,5", "Анна", "a=b", "e-mail", ""])
def test_plain_text_and_plain_numbers_stay_as_they_are(text):
    assert neutralize(pa.array([text])).to_pylist() == [text]


def test_nulls_and_numbers_become_text():
    assert neutralize(pa.array([None, 3])).to_pylist() == ["", "3"]


def test_csv_opens_in_russian_excel_and_carries_no_formulas():
    names = [*FORMULAS, 'кавычка " и ; точка с запятой', "две\r\nстроки", None]
    phones = [f"7924355{n:04d}" for n in range(len(names))]
    data = b"".join(
        csv_for_excel(
            HEADER,
            [
                table(phones[:3], ["sent"] * 3, names[:3]),
                table(phones[3:], ["sent"] * (len(names) - 3), names[3:]),
            ],
        )
    )
    assert data.startswith("\ufeff".encode()) and data.count("\ufeff".encode()) == 1
    assert data.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == phones
    assert [row[2] for row in rows[1:]] == [
        *("'" + text for text in FORMULAS),
        'кавычка " и ; точка с запятой',
        "две\r\nстроки",
        "",
    ]


def test_csv_quotes_as_pythons_csv_module_does():
    cells = ["a", "b;c", 'd"e', "f\ng"]
    expected = io.StringIO()
    csv.writer(expected, delimiter=";", lineterminator="\r\n").writerows([HEADER[:1], *zip(cells)])
    written = b"".join(csv_for_excel(HEADER[:1], [table(cells)])).decode("utf-8-sig")
    assert written == expected.getvalue()


def test_xlsx_cells_are_text_never_formulas():
    names = [*FORMULAS, "<b>&amp;</b>", "bell\x07", " blanks kept ", None]
    phones = [f"7924355{n:04d}" for n in range(len(names))]
    data = b"".join(xlsx_for_excel(HEADER, [table(phones, ["sent"] * len(names), names)], "Итоги"))
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book["Итоги"]
    assert [cell.value for cell in sheet[1]] == HEADER and sheet[1][0].font.b
    assert sheet.freeze_panes == "A2"
    cells = list(sheet.iter_rows(min_row=2))
    assert {cell.data_type for row in cells for cell in row if cell.value is not None} == {"s"}
    assert [row[0].value for row in cells] == phones  # text: no 7.92E+10
    assert [row[2].value for row in cells] == [
        *("'" + text for text in FORMULAS),
        "<b>&amp;</b>",
        "bell",  # XML cannot hold control characters
        " blanks kept ",
        None,
    ]


def test_xlsx_rows_past_a_sheet_go_on_in_the_next():
    batches = [table([str(n) for n in range(start, start + 4)]) for start in (0, 4)]
    data = b"".join(xlsx_for_excel(HEADER[:1], batches, "Итоги", rows_per_sheet=3))
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Итоги", "Итоги 2", "Итоги 3"]
    values = [[row[0] for row in sheet.iter_rows(values_only=True)] for sheet in book]
    assert values == [["Телефон", "0", "1", "2"], ["Телефон", "3", "4", "5"], ["Телефон", "6", "7"]]


def test_an_empty_xlsx_still_has_its_header():
    data = b"".join(xlsx_for_excel(HEADER, [], "Итоги"))
    rows = list(openpyxl.load_workbook(io.BytesIO(data))["Итоги"].iter_rows(values_only=True))
    assert rows == [tuple(HEADER)]


STREAM_1M = """
import resource
import pyarrow as pa
from webapp.downloads import {writer}
rows = pa.table([pa.array(range(50_000)), pa.array(["x" * 40] * 50_000)], names=["a", "b"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = sum(len(chunk) for chunk in {writer}(["a", "b"], [rows] * 20))
print(size, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("writer", ["csv_for_excel", "xlsx_for_excel"])
def test_a_million_rows_stream_with_bounded_memory(writer):
    # A fresh process, so the peak memory measured is this export's alone.
    result = subprocess.run(
        [sys.executable, "-c", STREAM_1M.format(writer=writer)],
        capture_output=True,
        text=True,
        check=True,
    )
    size, growth_mb = result.stdout.split()
    assert int(size) > 2_000_000  # all the rows are there...
    assert float(growth_mb) < 40  # ...but never held in memory at once
