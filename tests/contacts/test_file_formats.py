"""Real files as people's software writes them, imported end to end into SQLite."""

import json

import openpyxl
import pandas as pd
import pytest
import xlwt

from webapp.contacts import import_contacts, preview_file

from .conftest import stored_contacts, stored_rejects


def test_russian_excel_csv_in_cp1251_with_semicolons(conn, tmp_path):
    path = tmp_path / "клиенты.csv"
    path.write_bytes(
        (
            "ФИО;Телефон;Город\r\n"
            "Иванов Иван;+7 (924) 355-51-00;Москва\r\n"
            "Петрова Анна;8 924 355 51 01;Казань\r\n"
            ";;\r\n"
            "Дубль Иванова;89243555100;Москва\r\n"
            "Без номера;не знаю;Омск\r\n"
            "Городской;+7 495 123-45-67;Москва\r\n"
            "Сидоров;9243555102;Тверь\r\n"
        ).encode("cp1251")
    )

    report = import_contacts(conn, path, path.name, name="Клиенты")

    assert (report.encoding, report.delimiter, report.phone_column) == ("cp1251", ";", "Телефон")
    assert report.columns == ["ФИО", "Телефон", "Город"]
    assert (report.stored, report.invalid, report.duplicates) == (3, 2, 1)
    contacts = stored_contacts(conn, report.list_id)
    assert contacts == {
        "79243555100": (2, {"ФИО": "Иванов Иван", "Город": "Москва"}),
        "79243555101": (3, {"ФИО": "Петрова Анна", "Город": "Казань"}),
        "79243555102": (8, {"ФИО": "Сидоров", "Город": "Тверь"}),
    }
    assert stored_rejects(conn, report.list_id) == [
        (5, "duplicate", "89243555100", "duplicate of an earlier row"),
        (6, "invalid", "не знаю", "not a phone number"),
        (7, "invalid", "+7 495 123-45-67", "not a mobile number"),
    ]


def test_utf8_bom_csv_with_quoted_delimiters_and_line_breaks(conn, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "\ufeffИмя,Телефон,Заметка\n"
        '"Иванов, Иван","+7 924 355-51-00","первая строка\nвторая строка"\n'
        'Анна,89243555101,"кавычки ""внутри"""\n'
        "Пётр,,пусто\n",
        encoding="utf-8",
    )

    report = import_contacts(conn, path, path.name, name="BOM")

    assert (report.encoding, report.delimiter) == ("utf-8-sig", ",")
    assert report.columns == ["Имя", "Телефон", "Заметка"]
    assert stored_contacts(conn, report.list_id) == {
        "79243555100": (2, {"Имя": "Иванов, Иван", "Заметка": "первая строка\nвторая строка"}),
        "79243555101": (3, {"Имя": "Анна", "Заметка": 'кавычки "внутри"'}),
    }
    # The record spanning two lines is one spreadsheet row: Пётр is row 4.
    assert stored_rejects(conn, report.list_id) == [(4, "invalid", "", "empty")]


def test_utf16_tab_separated_text_as_excel_saves_unicode_text(conn, tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_text(
        "Телефон\tИмя\n8(924)3555100\tОльга\n+44 7911 123456\tJohn\n123\tКоротышка\n",
        encoding="utf-16",
    )

    report = import_contacts(conn, path, path.name, name="UTF-16")

    assert (report.encoding, report.delimiter) == ("utf-16", "\t")
    assert set(stored_contacts(conn, report.list_id)) == {"79243555100", "447911123456"}
    assert stored_rejects(conn, report.list_id) == [(4, "invalid", "123", "too short")]


def test_xlsx_with_numeric_phone_cells_leading_zeros_and_a_blank_trailing_row(conn, tmp_path):
    path = tmp_path / "база.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Имя", "Код"])
    sheet.append([79243555100, "Иван", "007"])
    sheet.append([9243555101.0, "Мария", 42])
    sheet.append([None, None, None])
    sheet.append(["8 924 355 51 02", "Олег", 1.5])
    sheet.append(["  ", "", None])  # blank: spaces only
    book.save(path)

    report = import_contacts(conn, path, path.name, name="xlsx")

    assert (report.sheet, report.encoding, report.delimiter) == ("Sheet", None, None)
    assert (report.stored, report.invalid, report.duplicates) == (3, 0, 0)
    assert stored_contacts(conn, report.list_id) == {
        "79243555100": (2, {"Имя": "Иван", "Код": "007"}),
        "79243555101": (3, {"Имя": "Мария", "Код": "42"}),
        "79243555102": (5, {"Имя": "Олег", "Код": "1.5"}),
    }


def test_ods_written_by_odfpy(conn, tmp_path):
    path = tmp_path / "list.ods"
    pd.DataFrame(
        {
            "Мобильный": ["+7 924 355 51 00", "89243555100", "нет", 79243555102],
            "Имя": ["А", "Б", "В", "Г"],
        }
    ).to_excel(path, engine="odf", index=False, sheet_name="Клиенты")

    report = import_contacts(conn, path, path.name, name="ods")

    assert (report.sheet, report.phone_column) == ("Клиенты", "Мобильный")
    assert stored_contacts(conn, report.list_id) == {
        "79243555100": (2, {"Имя": "А"}),
        "79243555102": (5, {"Имя": "Г"}),
    }
    assert stored_rejects(conn, report.list_id) == [
        (3, "duplicate", "89243555100", "duplicate of an earlier row"),
        (4, "invalid", "нет", "not a phone number"),
    ]


def test_legacy_xls_with_numeric_cells(conn, tmp_path):
    path = tmp_path / "old.xls"
    book = xlwt.Workbook()
    sheet = book.add_sheet("Лист1")
    for row, values in enumerate([("Тел.", "Имя"), (79243555100, "Иван"), (89243555101, "Анна")]):
        for column, value in enumerate(values):
            sheet.write(row, column, value)
    book.save(str(path))

    report = import_contacts(conn, path, path.name, name="xls")

    assert report.phone_column == "Тел."
    assert set(stored_contacts(conn, report.list_id)) == {"79243555100", "79243555101"}


@pytest.fixture
def two_sheet_workbook(tmp_path):
    path = tmp_path / "two.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Справка"
    book.active.append(["Просто текст"])
    book.active.append(["ничего"])
    clients = book.create_sheet("Клиенты")
    clients.append(["Phone", "Name"])
    clients.append(["+7 924 355 51 00", "Ivan"])
    book.save(path)
    return path


def test_the_sheet_can_be_chosen(conn, two_sheet_workbook):
    path = two_sheet_workbook
    preview = preview_file(path, path.name)
    assert (preview.sheet, preview.sheet_names) == ("Справка", ["Справка", "Клиенты"])
    assert preview.phone_column is None

    report = import_contacts(conn, path, path.name, name="second", sheet="Клиенты")

    assert report.sheet == "Клиенты"
    assert stored_contacts(conn, report.list_id) == {"79243555100": (2, {"Name": "Ivan"})}


def test_columns_are_named_uniquely_and_empty_columns_dropped(conn, tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text(
        "\n Имя ;Телефон;;Имя;;\nИван;89243555100;;Иванович;x;\n\nАнна;89243555101;;Сергеевна;;\n",
        encoding="utf-8",
    )

    report = import_contacts(conn, path, path.name, name="messy")

    assert report.columns == ["Имя", "Телефон", "Имя (2)", "column_5"]
    contacts = stored_contacts(conn, report.list_id)
    # The header is the first non-blank line (row 2); blank lines still count.
    assert contacts["79243555100"] == (3, {"Имя": "Иван", "Имя (2)": "Иванович", "column_5": "x"})
    assert contacts["79243555101"][0] == 5
    list_row = conn.exec_driver_sql("SELECT columns_json FROM contact_lists").scalar_one()
    assert json.loads(list_row) == report.columns


def test_rows_are_numbered_as_the_spreadsheet_shows_them(conn, tmp_path):
    path = tmp_path / "offset.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["C3"], sheet["D3"] = "Телефон", "Имя"
    sheet["C4"], sheet["D4"] = "89243555100", "Иван"
    sheet["C6"], sheet["D6"] = "не номер", "Анна"
    sheet["C7"], sheet["D7"] = "8 924 355 51 01", "Олег"
    book.save(path)

    report = import_contacts(conn, path, path.name, name="offset")

    contacts = stored_contacts(conn, report.list_id)
    assert {phone: row for phone, (row, _) in contacts.items()} == {
        "79243555100": 4,
        "79243555101": 7,
    }
    assert stored_rejects(conn, report.list_id) == [
        (6, "invalid", "не номер", "not a phone number")
    ]


def test_a_bare_list_of_numbers_has_no_header(conn, tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("89243555100\n+7 924 355 51 01\n\n8 924 355-51-02\n")

    preview = preview_file(path, path.name)
    report = import_contacts(conn, path, path.name, name="bare")

    assert preview.columns == report.columns == ["column_1"]
    assert preview.rows[0] == ["89243555100"]
    contacts = stored_contacts(conn, report.list_id)
    assert {phone: row for phone, (row, _) in contacts.items()} == {
        "79243555100": 1,
        "79243555101": 2,
        "79243555102": 4,
    }


def test_excel_sep_line_names_the_delimiter_and_is_no_row(conn, tmp_path):
    path = tmp_path / "excel.csv"
    lines = ["sep=,", "ФИО,Телефон,Сумма", 'Иванов; Иван,89243555100,"1,5"', "Пётр,89243555101,2"]
    path.write_bytes("\r\n".join([*lines, ""]).encode("cp1251"))

    preview = preview_file(path, path.name)
    report = import_contacts(conn, path, path.name, name="sep")

    assert (preview.delimiter, preview.columns) == (",", ["ФИО", "Телефон", "Сумма"])
    assert (report.delimiter, report.columns) == (",", ["ФИО", "Телефон", "Сумма"])
    # Excel hides the sep= line: the header is row 1 there, and so here.
    assert stored_contacts(conn, report.list_id) == {
        "79243555100": (2, {"ФИО": "Иванов; Иван", "Сумма": "1,5"}),
        "79243555101": (3, {"ФИО": "Пётр", "Сумма": "2"}),
    }
