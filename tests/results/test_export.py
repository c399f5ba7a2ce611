import csv
import io
import subprocess
import sys

import openpyxl
import pytest

from webapp.results.export import csv_chunks, neutralize, xlsx_chunks

HEADER = ["Телефон", "Статус", "Имя"]
HOSTILE = ['=HYPERLINK("http://evil")', "+7 924", "-1+2", "@SUM(A1)", "\tx", "\rx", "Анна"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+7", "'+7"),
        ("-5", "'-5"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("79243555100", "79243555100"),
        ("Анна", "Анна"),
        (None, ""),
    ],
)
def test_cells_that_spreadsheets_would_evaluate_are_neutralized(text, expected):
    assert neutralize(text) == expected


def test_csv_opens_in_russian_excel_and_carries_no_formulas():
    data = b"".join(csv_chunks(HEADER, [["79243555100", "sent", name] for name in HOSTILE]))
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == HEADER
    names = [row[2] for row in rows[1:]]
    assert names[-1] == "Анна"
    assert all(not name.startswith(("=", "+", "-", "@", "\t", "\r")) for name in names)


def test_xlsx_has_the_rows_as_text_and_no_formulas():
    data = b"".join(xlsx_chunks(HEADER, [["79243555100", "sent", name] for name in HOSTILE]))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert rows[1][0] == "79243555100"  # phones stay text: no 7.92E+10
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=2) for cell in row)
    assert rows[-1][2] == "Анна" and rows[1][2] == '\'=HYPERLINK("http://evil")'


STREAM_100K = """
import resource, sys
from webapp.results.export import {export}
rows = ([f"7924{{n:07d}}", "sent", f"Клиент {{n}}", "x" * 40] for n in range(100_000))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = sum(len(chunk) for chunk in {export}(["a", "b", "c", "d"], rows))
print(size, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.parametrize("export", ["csv_chunks", "xlsx_chunks"])
def test_100k_rows_stream_with_bounded_memory(export):
    # A fresh process, so the peak memory measured is this export's alone.
    result = subprocess.run(
        [sys.executable, "-c", STREAM_100K.format(export=export)],
        capture_output=True,
        text=True,
        check=True,
    )
    size, growth_mb = result.stdout.split()
    assert int(size) > 1_500_000  # all the rows are there...
    assert float(growth_mb) < 30  # ...but never held in memory at once
