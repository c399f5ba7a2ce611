"""The import's choices (phone column, opt-outs), the preview, rejects CSV and stored lists."""

import csv
import io

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from webapp.contacts import (
    ListInUseError,
    add_opt_outs,
    delete_list,
    field_columns,
    import_contacts,
    import_opt_outs,
    list_rejects,
    preview_file,
    rejects_csv,
    search_contacts,
)
from webapp.models import Campaign, ContactList

from .conftest import row_counts, stored_contacts, stored_rejects


@pytest.fixture
def clients_csv(tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(
        "Имя;Номер договора;Сотовый;Резервный\n"
        "Иван;Д-1;8 924 355 51 00;8 924 355 51 09\n"
        "Анна;Д-2;8 924 355 51 01;\n"
        'Олег;Д-3;=HYPERLINK("x");8 924 355 51 08\n'
        "Мария;Д-4;8 924 355 51 02;\n",
        encoding="utf-8",
    )
    return path


def test_phone_column_found_by_its_header(conn, clients_csv):
    report = import_contacts(conn, clients_csv, clients_csv.name, name="x")
    assert report.phone_column == "Сотовый"
    assert set(stored_contacts(conn, report.list_id)) == {
        "79243555100",
        "79243555101",
        "79243555102",
    }


def test_phone_column_can_be_set_explicitly(conn, clients_csv):
    report = import_contacts(
        conn, clients_csv, clients_csv.name, name="x", phone_column="Резервный"
    )
    assert stored_contacts(conn, report.list_id) == {
        "79243555109": (2, {"Имя": "Иван", "Номер договора": "Д-1", "Сотовый": "8 924 355 51 00"}),
        "79243555108": (4, {"Имя": "Олег", "Номер договора": "Д-3", "Сотовый": '=HYPERLINK("x")'}),
    }
    assert [(row, reason) for row, _, _, reason in stored_rejects(conn, report.list_id)] == [
        (3, "empty"),
        (5, "empty"),
    ]


def test_phone_column_found_by_its_content_when_no_header_says_so(conn, tmp_path):
    path = tmp_path / "unnamed.csv"
    path.write_text(
        "Кто;Данные;Сумма\nИван;+7 924 355 51 00;1500\nАнна;8 924 355 51 01;2000\nОлег;не дал;0\n"
    )
    report = import_contacts(conn, path, path.name, name="x")
    assert report.phone_column == "Данные"
    assert report.stored == 2


def test_opted_out_numbers_are_reported_not_stored(conn, clients_csv):
    assert add_opt_outs(conn, ["79243555101", "79243555101", "79990000000"], "просили") == 2
    assert add_opt_outs(conn, ["79243555101"]) == 0

    report = import_contacts(conn, clients_csv, clients_csv.name, name="x")

    assert (report.stored, report.opted_out) == (2, 1)
    assert set(stored_contacts(conn, report.list_id)) == {"79243555100", "79243555102"}
    assert (3, "opted_out", "8 924 355 51 01", "opted out") in stored_rejects(conn, report.list_id)


def test_opt_outs_imported_from_a_file(conn, tmp_path):
    add_opt_outs(conn, ["79243555100"])
    path = tmp_path / "stop.csv"
    path.write_text("Телефон\n89243555100\n89243555101\n+7 924 355 51 01\nне звонить\n")

    report = import_opt_outs(conn, path, path.name, note="stop.csv")

    assert (report.added, report.already_opted_out, report.invalid, report.duplicates) == (
        1,
        1,
        1,
        1,
    )
    phones = conn.exec_driver_sql("SELECT phone, note FROM opt_outs ORDER BY phone").all()
    assert phones == [("79243555100", ""), ("79243555101", "stop.csv")]


def test_list_row_holds_the_file_facts_and_counts(conn, clients_csv):
    report = import_contacts(
        conn, clients_csv, clients_csv.name, name="Клиенты", created_by_id=None
    )
    saved = conn.execute(ContactList.__table__.select()).one()
    assert (saved.name, saved.source_filename, saved.phone_column) == (
        "Клиенты",
        "clients.csv",
        "Сотовый",
    )
    assert (saved.encoding, saved.delimiter, saved.sheet) == ("utf-8", ";", None)
    counts = (saved.contact_count, saved.invalid_count, saved.duplicate_count)
    assert counts == (report.stored, report.invalid, report.duplicates) == (3, 1, 0)


def test_preview_shows_columns_rows_and_the_guess(clients_csv):
    preview = preview_file(clients_csv, clients_csv.name, rows=2)
    assert preview.columns == ["Имя", "Номер договора", "Сотовый", "Резервный"]
    assert preview.rows == [
        ["Иван", "Д-1", "8 924 355 51 00", "8 924 355 51 09"],
        ["Анна", "Д-2", "8 924 355 51 01", ""],
    ]
    assert (preview.phone_column, preview.encoding, preview.delimiter) == ("Сотовый", "utf-8", ";")
    assert (preview.sheet, preview.sheet_names) == (None, [])


def test_rejects_csv_opens_in_excel_with_translated_reasons(conn, clients_csv):
    report = import_contacts(
        conn, clients_csv, clients_csv.name, name="x", phone_column="Резервный"
    )
    translations = {"row": "строка", "value": "значение", "reason": "причина", "empty": "пусто"}

    written = b"".join(rejects_csv(conn, report.list_id, translations.get)).decode()

    assert written == "\ufeffстрока;значение;причина\r\n3;;пусто\r\n5;;пусто\r\n"


def test_rejects_csv_defuses_formulas(conn, clients_csv):
    report = import_contacts(conn, clients_csv, clients_csv.name, name="x")
    written = b"".join(rejects_csv(conn, report.list_id, str)).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(written), delimiter=";"))
    assert rows[1] == ["4", '\'=HYPERLINK("x")', "not a phone number"]


def test_stored_lists_can_be_searched_paged_and_deleted(conn, clients_csv):
    report = import_contacts(conn, clients_csv, clients_csv.name, name="x")
    session = Session(conn)
    contact_list = session.get(ContactList, report.list_id)
    assert field_columns(contact_list) == ["Имя", "Номер договора", "Резервный"]

    found = search_contacts(session, report.list_id, "Анна", limit=10, offset=0)
    assert (found.total, [c["phone"] for c in found.items]) == (1, ["79243555101"])
    second_page = search_contacts(session, report.list_id, "", limit=2, offset=2)
    assert (second_page.total, [c["row"] for c in second_page.items]) == (3, [5])
    rejects = list_rejects(session, report.list_id, limit=10, offset=0)
    assert rejects.items == [
        {"row": 4, "kind": "invalid", "value": '=HYPERLINK("x")', "reason": "not a phone number"}
    ]

    delete_list(session, contact_list)
    session.flush()
    assert row_counts(conn) == {
        "contact_lists": 0,
        "contacts": 0,
        "import_rejects": 0,
        "opt_outs": 0,
    }


def test_a_list_used_by_a_campaign_is_not_deleted(conn, clients_csv):
    report = import_contacts(conn, clients_csv, clients_csv.name, name="x")
    conn.execute(insert(Campaign.__table__).values(name="c", list_id=report.list_id, template="Hi"))
    session = Session(conn)
    with pytest.raises(ListInUseError):
        delete_list(session, session.get(ContactList, report.list_id))


def test_a_file_without_one_valid_phone_is_stored_empty_with_its_rejects(conn, tmp_path):
    path = tmp_path / "bad-phones.csv"
    path.write_text("Телефон;Имя\n123;Иван\n+7 495 123-45-67;Анна\n")
    report = import_contacts(conn, path, path.name, name="x", phone_column="Телефон")
    assert (report.stored, report.invalid) == (0, 2)
    assert [reason for *_, reason in stored_rejects(conn, report.list_id)] == [
        "too short",
        "not a mobile number",
    ]
