"""Files that cannot become a contact list: one clear error, quickly, nothing stored."""

import io
import json
import os
import subprocess
import sys
import zipfile

import openpyxl
import pytest
import xlwt

from webapp.contacts import ImportFileError, ImportLimits, import_contacts, preview_file

from .conftest import row_counts

NOTHING = {"contact_lists": 0, "contacts": 0, "import_rejects": 0, "opt_outs": 0}


def refused(conn, path, **options) -> ImportFileError:
    """Import `path`, expect the error, roll back as the caller does, check nothing stayed."""
    with pytest.raises(ImportFileError) as caught:
        import_contacts(conn, path, path.name, name="bad", **options)
    conn.rollback()
    assert row_counts(conn) == NOTHING
    return caught.value


def xlsx_with_sheet_xml(path, sheet_xml: bytes):
    """An openpyxl workbook whose sheet XML is replaced, as a crafted file would be."""
    book = openpyxl.Workbook()
    book.active.append(["Телефон"])
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            data = source.read(member)
            out.writestr(member, sheet_xml if member.filename.endswith("sheet1.xml") else data)
    return path


def sheet_xml(cells: str, dimension: str = "") -> bytes:
    return (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dimension}<sheetData>{cells}</sheetData></worksheet>"
    ).encode()


def test_empty_file(conn, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    error = refused(conn, path)
    assert (error.status, error.message) == (422, "The file is empty.")


def test_blank_lines_only(conn, tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n ; \n\n")
    assert refused(conn, path).status == 422


def test_header_only(conn, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("Телефон;Имя\n\n")
    error = refused(conn, path)
    assert (error.status, error.message) == (422, "The file has a header row but no data rows.")


def test_random_bytes_named_xlsx(conn, tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(os.urandom(4096))
    error = refused(conn, path)
    assert error.status == 415
    assert str(error) == "The file is not a readable XLSX workbook."


def test_random_bytes_named_xls(conn, tmp_path):
    path = tmp_path / "list.xls"
    path.write_bytes(os.urandom(4096))
    assert refused(conn, path).status == 415


def test_zip_that_is_not_a_workbook(conn, tmp_path):
    path = tmp_path / "photos.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8" * 100)
    error = refused(conn, path)
    assert error.status == 415
    assert "not a spreadsheet" in str(error)


def test_unsupported_file_type(conn, tmp_path):
    path = tmp_path / "list.pdf"
    path.write_bytes(b"%PDF-1.4")
    error = refused(conn, path)
    assert (error.status, error.params) == (415, {"type": ".pdf"})


def test_binary_file_named_csv(conn, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"\x00\x01\x02\x03\xff\xfe\x00" + os.urandom(3000).replace(b"\x00", b"\x01"))
    assert refused(conn, path).status == 415


def test_no_phone_like_column(conn, tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("Имя;Город\nИван;Москва\nАнна;Казань\n")
    error = refused(conn, path)
    assert error.status == 422
    assert error.params == {"columns": "Имя, Город"}


def test_unknown_explicit_phone_column_lists_the_columns(conn, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("Телефон;Имя\n89243555100;Иван\n")
    error = refused(conn, path, phone_column="Мобильный")
    assert error.status == 422
    assert str(error) == "There is no column “Мобильный” in the file. Columns: Телефон, Имя."


def test_unknown_sheet_lists_the_sheets(conn, tmp_path):
    path = tmp_path / "list.xlsx"
    openpyxl.Workbook().save(path)
    error = refused(conn, path, sheet="Клиенты")
    assert (error.status, error.params["sheets"]) == (422, "Sheet")


def test_csv_with_5000_columns(conn, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(";".join(f"c{i}" for i in range(5000)) + "\n" + ";".join("1" * 5000) + "\n")
    error = refused(conn, path)
    assert (error.status, error.params) == (422, {"count": 5000, "limit": 200})


def test_more_rows_than_the_limit(conn, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("Телефон\n" + "89243555100\n" * 11)
    error = refused(conn, path, limits=ImportLimits(max_rows=10))
    assert (error.status, error.params) == (422, {"count": 11, "limit": 10})


def test_workbook_unpacking_past_the_size_limit(conn, tmp_path):
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{79243555100 + r}</v></c></row>' for r in range(2, 30000)
    )
    path = xlsx_with_sheet_xml(tmp_path / "big.xlsx", sheet_xml(rows))
    error = refused(conn, path, limits=ImportLimits(max_unpacked_bytes=1 << 20))
    assert error.status == 422
    assert error.params["limit"] == 1


# Each of these is read, as an import reads, in a child process whose peak memory is then
# read: the point is that calamine never gets to allocate for them.
BOMB_CHECK = """
import resource, sys
from webapp.contacts import ImportFileError
from webapp.contacts.read import read_table
try:
    read_table(sys.argv[1], sys.argv[1])
except ImportFileError as error:
    print(error.status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def refused_cheaply(path) -> int:
    """Status of refusing `path`, asserting the refusal took little time and memory."""
    child = subprocess.run(
        [sys.executable, "-c", BOMB_CHECK, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    status, peak_mb = map(int, child.stdout.split())
    assert peak_mb < 400, child.stdout
    return status


def test_xlsx_decompression_bomb(tmp_path):
    # 120 MB of sheet XML that deflates to well under a megabyte.
    path = tmp_path / "bomb.xlsx"
    row = b'<row><c t="inlineStr"><is><t>9243555100</t></is></c></row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as xml:
            for _ in range(40):
                xml.write(row * 50_000)
    assert path.stat().st_size < 1 << 20
    assert refused_cheaply(path) == 422


def test_sheet_whose_only_cell_sits_at_ax100000(conn, tmp_path):
    path = tmp_path / "far.xlsx"
    book = openpyxl.Workbook()
    book.active["AX100000"] = "Телефон"
    book.save(path)
    error = refused(conn, path)
    assert error.message == "The file has a header row but no data rows."


def test_cells_at_opposite_corners_without_a_dimension(tmp_path):
    # calamine would allocate 17 billion cells and abort the process; the extent is refused
    # from the cell references alone, the <dimension> element being absent.
    cells = '<row r="1"><c r="A1" t="inlineStr"><is><t>Телефон</t></is></c></row>'
    cells += '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    path = xlsx_with_sheet_xml(tmp_path / "corners.xlsx", sheet_xml(cells))
    assert refused_cheaply(path) == 422


def test_a_lying_dimension_does_not_matter(conn, tmp_path):
    cells = '<row r="1"><c r="A1" t="inlineStr"><is><t>Телефон</t></is></c></row>'
    cells += '<row r="900"><c r="A900"><v>89243555100</v></c></row>'
    path = xlsx_with_sheet_xml(tmp_path / "lying.xlsx", sheet_xml(cells, '<dimension ref="A1"/>'))
    report = import_contacts(conn, path, path.name, name="ok")
    assert report.stored == 1
    rows = conn.exec_driver_sql("SELECT row FROM contacts").scalars().all()
    assert rows == [900]


def test_preview_reads_only_the_top(conn, tmp_path):
    # Rows past the top have more fields than the header: reading them would fail.
    path = tmp_path / "top.csv"
    lines = ["Телефон;Имя"] + [f"8924355{i:04d};Имя {i}" for i in range(500)] + ["1;2;3;4;5"]
    path.write_text("\n".join(lines))
    preview = preview_file(path, path.name, rows=3)
    assert preview.rows == [
        ["89243550000", "Имя 0"],
        ["89243550001", "Имя 1"],
        ["89243550002", "Имя 2"],
    ]
    assert preview.phone_column == "Телефон"
    assert refused(conn, path).status == 400


def test_xls_preview_reads_only_the_top_rows(conn, tmp_path):
    book = xlwt.Workbook()
    for name in ("Лист1", "Лист2"):
        sheet = book.add_sheet(name)
        sheet.write(0, 0, "Телефон")
        for row in range(1, 400):
            sheet.write(row, 0, 79243555000 + row)
        # calamine would build all 65,536 × 200 cells, were it to read this far.
        sheet.write(65_535, 199, 1)
    path = tmp_path / "long.xls"
    book.save(str(path))

    preview = preview_file(path, path.name, sheet="Лист2", rows=2)

    assert preview.rows == [["79243555001"], ["79243555002"]]
    assert (preview.sheet_names, preview.phone_column) == (["Лист1", "Лист2"], "Телефон")
    assert refused(conn, path).status == 422


def test_error_messages_are_plain_english_with_parameters(conn, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(";".join("x" * 300) + "\n")
    error = refused(conn, path)
    assert error.message == "The file has %(count)s columns; at most %(limit)s can be imported."
    assert json.dumps(error.params) == '{"count": 300, "limit": 200}'


def test_xlsx_preview_reads_only_the_top_rows(conn, tmp_path):
    # Written the way the .NET OpenXML SDK writes, with a namespace prefix on every element.
    rows = [
        f'<x:row r="{r}"><x:c r="A{r}"><x:v>{79243555000 + r}</x:v></x:c></x:row>'
        for r in range(2, 400)
    ]
    xml = (
        '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Телефон</x:t></x:is></x:c>'
        "</x:row>" + "".join(rows) + '<x:row r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c>'
        "</x:row></x:sheetData></x:worksheet>"
    )
    path = xlsx_with_sheet_xml(tmp_path / "sdk.xlsx", xml.encode())

    preview = preview_file(path, path.name, rows=2)

    assert preview.rows == [["79243555002"], ["79243555003"]]
    assert preview.phone_column == "Телефон"
    assert refused(conn, path).status == 422
