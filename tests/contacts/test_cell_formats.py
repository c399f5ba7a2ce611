"""Workbook cells stored as Excel shows them: dates, times, percentages and amounts through
each cell's number format, in real files written by openpyxl, xlwt, odfpy and LibreOffice.

The fixtures/formats-libreoffice.* files are LibreOffice's own: ``soffice --headless
--convert-to ods`` (and ``xls``) of the workbook `openpyxl_workbook` writes, and its ODS
converted back to XLSX.
"""

import zipfile
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest
import xlwt
from odf import number
from odf.opendocument import OpenDocumentSpreadsheet
from odf.style import Style
from odf.table import Table, TableCell, TableColumn, TableHeaderRows, TableRow
from odf.text import P

from webapp.contacts import ImportFileError, import_contacts, preview_file, read_rows
from webapp.contacts.read import read_table
from webapp.messages import MessageTemplate

from .conftest import stored_contacts

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = ["Телефон", "Имя", "Дата визита", "Время", "Визит", "Скидка", "Сумма", "Баллы"]
ROWS = [
    [79161234567, "Анна", date(2026, 12, 5), time(9, 30), datetime(2026, 12, 5, 9, 30), 0.15,
     1500.5, 42],
    [79161234568, "Борис", date(2027, 1, 20), time(14, 0), datetime(2027, 1, 20, 14, 0), 0.075,
     99.999, 7],
]  # fmt: skip
FORMATS = [None, None, "DD.MM.YYYY", "hh:mm", "DD.MM.YYYY hh:mm", "0.0%", "#,##0.00", None]
# What a Russian Excel shows for ROWS in FORMATS, and so what is stored.
SHOWN = {
    "79161234567": {
        "Имя": "Анна",
        "Дата визита": "05.12.2026",
        "Время": "09:30",
        "Визит": "05.12.2026 09:30",
        "Скидка": "15,0%",
        "Сумма": "1 500,50",
        "Баллы": "42",
    },
    "79161234568": {
        "Имя": "Борис",
        "Дата визита": "20.01.2027",
        "Время": "14:00",
        "Визит": "20.01.2027 14:00",
        "Скидка": "7,5%",
        "Сумма": "100,00",
        "Баллы": "7",
    },
}


def openpyxl_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Клиенты"
    sheet.append(HEADER)
    for values in ROWS:
        sheet.append(values)
        for cell, code in zip(sheet[sheet.max_row], FORMATS, strict=True):
            if code:
                cell.number_format = code
    book.save(path)
    return path


def xlwt_workbook(path: Path) -> Path:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Клиенты")
    for column, name in enumerate(HEADER):
        sheet.write(0, column, name)
    for row, values in enumerate(ROWS, start=1):
        for column, (value, code) in enumerate(zip(values, FORMATS, strict=True)):
            if code:
                sheet.write(row, column, value, xlwt.easyxf(num_format_str=code))
            else:
                sheet.write(row, column, value)
    book.save(str(path))
    return path


def odfpy_workbook(path: Path) -> Path:
    """An ODS with data styles as LibreOffice writes them: dd.mm.yyyy, hh:mm, 0.0%, #,##0.00."""
    document = OpenDocumentSpreadsheet()
    styles = document.automaticstyles

    def data_style(style, *parts):
        for part in parts:
            style.addElement(part)
        styles.addElement(style)
        cell_style = Style(name=f"ce-{style.getAttribute('name')}", family="table-cell")
        cell_style.setAttribute("datastylename", style.getAttribute("name"))
        styles.addElement(cell_style)
        return cell_style

    date_style = data_style(
        number.DateStyle(name="D1"),
        number.Day(style="long"), number.Text(text="."), number.Month(style="long"),
        number.Text(text="."), number.Year(style="long"),
    )  # fmt: skip
    time_style = data_style(
        number.TimeStyle(name="T1"),
        number.Hours(style="long"), number.Text(text=":"), number.Minutes(style="long"),
    )  # fmt: skip
    moment_style = data_style(
        number.DateStyle(name="D2"),
        number.Day(style="long"), number.Text(text="."), number.Month(style="long"),
        number.Text(text="."), number.Year(style="long"), number.Text(text=" "),
        number.Hours(style="long"), number.Text(text=":"), number.Minutes(style="long"),
    )  # fmt: skip
    percent_style = data_style(
        number.PercentageStyle(name="P1"),
        number.Number(decimalplaces="1", minintegerdigits="1"), number.Text(text="%"),
    )  # fmt: skip
    money_style = data_style(
        number.NumberStyle(name="N1"),
        number.Number(decimalplaces="2", minintegerdigits="1", grouping="true"),
    )
    table = Table(name="Клиенты")
    table.addElement(TableColumn(numbercolumnsrepeated=len(HEADER)))
    table.addElement(_ods_row([TableCell(valuetype="string") for _ in HEADER], HEADER))
    for values in ROWS:
        phone, _, day, clock, moment, discount, amount, points = values
        cells = [
            TableCell(valuetype="float", value=phone),
            TableCell(valuetype="string"),
            TableCell(valuetype="date", datevalue=day.isoformat(), stylename=date_style),
            TableCell(
                valuetype="time", timevalue=clock.strftime("PT%HH%MM%SS"), stylename=time_style
            ),
            TableCell(valuetype="date", datevalue=moment.isoformat(), stylename=moment_style),
            TableCell(valuetype="percentage", value=discount, stylename=percent_style),
            TableCell(valuetype="float", value=amount, stylename=money_style),
            TableCell(valuetype="float", value=points),
        ]
        table.addElement(_ods_row(cells, values))
    document.spreadsheet.addElement(table)
    document.save(str(path))
    return path


def _ods_row(cells: list, texts: list) -> TableRow:
    row = TableRow()
    for cell, text in zip(cells, texts, strict=True):
        cell.addElement(P(text=str(text)))
        row.addElement(cell)
    return row


WRITERS = {
    "openpyxl.xlsx": openpyxl_workbook,
    "xlwt.xls": xlwt_workbook,
    "odfpy.ods": odfpy_workbook,
}


@pytest.fixture(params=[*WRITERS, *sorted(p.name for p in FIXTURES.glob("formats-*"))])
def workbook(request, tmp_path) -> Path:
    """The same client list with the same formats, as each program writes it."""
    if request.param in WRITERS:
        return WRITERS[request.param](tmp_path / f"formats-{request.param}")
    return FIXTURES / request.param


def test_cells_are_stored_as_excel_shows_them(conn, workbook):
    report = import_contacts(conn, workbook, workbook.name, name="Визиты")

    assert report.phone_column == "Телефон"
    contacts = stored_contacts(conn, report.list_id)
    assert {phone: fields for phone, (_, fields) in contacts.items()} == SHOWN


def test_the_preview_shows_what_is_stored(workbook):
    preview = preview_file(workbook, workbook.name)

    assert preview.columns == HEADER
    assert preview.rows == [[phone, *fields.values()] for phone, fields in SHOWN.items()]


def test_templates_reformat_the_stored_values(conn, workbook):
    report = import_contacts(conn, workbook, workbook.name, name="Визиты")
    fields = stored_contacts(conn, report.list_id)["79161234567"][1]
    template = MessageTemplate.parse(
        '{{ Имя }}, ждём вас {{ Дата визита | дата "D MMMM" }} в {{ Время | время }} '
        '({{ Визит | дата "dddd" }}). К оплате {{ Сумма | число "0" }} ₽, '
        "скидка {{ Скидка }}.",
        report.columns,
    )

    message = template.render(fields, "1:79161234567")

    assert message.text == (
        "Анна, ждём вас 5 декабря в 09:30 (суббота). К оплате 1501 ₽, скидка 15,0%."
    )
    assert message.warnings == ()


def test_each_cell_has_its_own_format(tmp_path):
    path = tmp_path / "mixed.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Когда", "Сколько"])
    for date_code, amount_code in [("DD.MM.YYYY", "0.00"), ("D MMMM YYYY", "0%"), (None, None)]:
        sheet.append([79161234567, datetime(2026, 12, 5), 0.5])
        if date_code:
            sheet.cell(sheet.max_row, 2).number_format = date_code
            sheet.cell(sheet.max_row, 3).number_format = amount_code
    book.save(path)

    cells = read_table(path, path.name).cells

    # openpyxl gives a date without a format of its own "yyyy-mm-dd h:mm:ss", shown as such.
    assert cells["Когда"].tolist() == ["05.12.2026", "5 декабря 2026", "2026-12-05 0:00:00"]
    assert cells["Сколько"].tolist() == ["0,50", "50%", "0.5"]


def test_excel_builtin_and_locale_formats(tmp_path):
    """Formats by id (no code in the file) as a Russian Excel shows them."""
    path = tmp_path / "builtin.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Дата", "Дата и время", "Время", "Сумма", "Доля", "Код"])
    sheet.append([79161234567, datetime(2026, 12, 5), datetime(2026, 12, 5, 9, 30),
                  time(9, 30), 1500.5, 0.15, 7])  # fmt: skip
    # openpyxl writes these codes as Excel's built-in ids 14, 22, 20, 4, 9 and 1.
    for column, code in zip("BCDEFG", ["mm-dd-yy", "m/d/yy h:mm", "h:mm", "#,##0.00", "0%", "0"],
                            strict=True):  # fmt: skip
        sheet[f"{column}2"].number_format = code
    book.save(path)

    cells = read_table(path, path.name).cells

    assert cells.iloc[0].tolist() == [
        "79161234567", "05.12.2026", "05.12.2026 09:30", "09:30", "1 500,50", "15%", "7",
    ]  # fmt: skip


def test_phones_in_a_number_format_stay_whole_numbers(conn, tmp_path):
    path = tmp_path / "phones.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Имя"])
    for phone, code, name in [
        (79161234567, "0", "Анна"),
        (79161234568, "General", "Борис"),
        (9161234569, "+7 (000) 000-00-00", "Вера"),
        (79161234570, "@", "Глеб"),
    ]:
        sheet.append([phone, name])
        sheet.cell(sheet.max_row, 1).number_format = code
    book.save(path)

    report = import_contacts(conn, path, path.name, name="Телефоны")

    assert sorted(stored_contacts(conn, report.list_id)) == [
        "79161234567", "79161234568", "79161234569", "79161234570",
    ]  # fmt: skip


def test_a_sheet_far_from_the_top_left_keeps_its_formats(tmp_path):
    path = tmp_path / "offset.ods"
    document = OpenDocumentSpreadsheet()
    style = number.PercentageStyle(name="P1")
    style.addElement(number.Number(decimalplaces="0", minintegerdigits="1"))
    style.addElement(number.Text(text="%"))
    document.automaticstyles.addElement(style)
    cell_style = Style(name="ce1", family="table-cell")
    cell_style.setAttribute("datastylename", "P1")
    document.automaticstyles.addElement(cell_style)
    table = Table(name="Лист1")
    table.addElement(TableColumn(numbercolumnsrepeated=4, defaultcellstylename=cell_style))
    table.addElement(TableRow(numberrowsrepeated=2))
    for texts in [["Телефон", "Скидка"], ["89161234567", 0.25], ["89161234568", 0.5]]:
        row = TableRow()
        row.addElement(TableCell())  # column A stays empty
        for text in texts:
            if isinstance(text, float):
                cell = TableCell(valuetype="float", value=text)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(text)))
            row.addElement(cell)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    document.save(str(path))

    table = read_table(path, path.name)

    # The column's default style formats the cells that name none themselves.
    assert table.cells["Скидка"].tolist() == ["25%", "50%"]
    assert table.rows.tolist() == [4, 5]


@pytest.fixture
def long_ods(tmp_path) -> Path:
    """Two sheets; the second has a header row group and 400 clients, and a broken end."""
    document = OpenDocumentSpreadsheet()
    notes = Table(name="Справка")
    notes.addElement(_ods_row([TableCell(valuetype="string")], ["Просто текст"]))
    document.spreadsheet.addElement(notes)
    clients = Table(name="Клиенты & друзья")
    header = TableHeaderRows()
    header.addElement(_ods_row([TableCell(valuetype="string") for _ in range(2)], HEADER[:2]))
    clients.addElement(header)
    for n in range(400):
        phone = f"8916123{n:04d}"
        cells = [TableCell(valuetype="string"), TableCell(valuetype="string")]
        clients.addElement(_ods_row(cells, [phone, f"Клиент {n}"]))
    document.spreadsheet.addElement(clients)
    path = tmp_path / "long.ods"
    document.save(str(path))
    # Cut the XML off after the top rows: a preview never reads that far.
    broken = tmp_path / "broken.ods"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "content.xml":
                data = data[: data.index(b"89161230300")]
            target.writestr(info, data)
    return broken


def test_an_ods_preview_reads_only_the_top_of_the_sheet(conn, long_ods):
    preview = preview_file(long_ods, long_ods.name, sheet="Клиенты & друзья", rows=3)

    assert preview.sheet_names == ["Справка", "Клиенты & друзья"]
    assert preview.columns == HEADER[:2]
    assert preview.rows == [["89161230000", "Клиент 0"], ["89161230001", "Клиент 1"],
                            ["89161230002", "Клиент 2"]]  # fmt: skip
    with pytest.raises(ImportFileError, match="not a readable ODS workbook"):
        import_contacts(conn, long_ods, long_ods.name, name="Всё", sheet="Клиенты & друзья")


def test_an_xls_preview_shows_the_top_rows_as_the_import_reads_them(tmp_path):
    path = tmp_path / "long.xls"
    book = xlwt.Workbook()
    book.add_sheet("Справка").write(0, 0, "Просто текст")
    sheet = book.add_sheet("Клиенты")
    styles = [xlwt.easyxf(num_format_str=code) if code else xlwt.Style.default_style
              for code in FORMATS]  # fmt: skip
    for column, name in enumerate(HEADER):
        sheet.write(2, column, name)  # two blank rows above: the top starts lower
    for row in range(3, 403):
        for column, (value, style) in enumerate(zip(ROWS[row % 2], styles, strict=True)):
            sheet.write(row, column, value + row if column == 0 else value, style)
    book.save(str(path))

    preview = preview_file(path, path.name, sheet="Клиенты", rows=100)

    assert (preview.sheet_names, preview.columns) == (["Справка", "Клиенты"], HEADER)
    everything = read_rows(path, path.name, sheet="Клиенты")
    assert preview.rows == [list(row.values()) for row in everything[:100]]
    assert preview.rows[0] == ["79161234571", *SHOWN["79161234568"].values()]


def test_an_ods_with_unreadable_common_styles_still_imports(conn, tmp_path):
    path = odfpy_workbook(tmp_path / "styles.ods")
    damaged = tmp_path / "damaged.ods"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = b"<office:document-styles" if info.filename == "styles.xml" else None
            target.writestr(info, data or source.read(info))

    report = import_contacts(conn, damaged, damaged.name, name="Визиты")

    fields = stored_contacts(conn, report.list_id)["79161234567"][1]
    assert (fields["Имя"], fields["Баллы"]) == ("Анна", "42")
