"""Result downloads (web and API, CSV and XLSX) and the rejected-rows download: what a client
list holds never comes out as a live formula, and every row comes out as the pages show it."""

import csv
import io
import threading
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy import select

from tests.factories import make_campaign, make_list, mark_recipients, set_campaign_status
from tests.test_downloads import FORMULAS
from webapp.contacts import import_contacts
from webapp.extensions import db
from webapp.models import ImportReject

PHONES = [f"7924355{n:04d}" for n in range(len(FORMULAS))]
EXPORTS = {
    "web csv": "/campaigns/{id}/export.csv",
    "web xlsx": "/campaigns/{id}/export.xlsx",
    "api csv": "/api/v1/campaigns/{id}/export",
    "api xlsx": "/api/v1/campaigns/{id}/export?format=xlsx",
}


@pytest.fixture
def campaign(app, admin):
    """A completed campaign over a list whose «Имя» and «=Сумма» columns hold formulas."""
    with app.app_context():
        fields = [{"Имя": text, "=Сумма": "-500"} for text in FORMULAS]
        contact_list = make_list(PHONES, fields)
        campaign_id = make_campaign(contact_list.id, "Привет, {{ Имя }}", name="x", start=True)
        sent_at = datetime(2026, 12, 5, 6, 30, 15, 999999, tzinfo=UTC)
        mark_recipients(campaign_id, PHONES[:-1], "sent", message="=1+2", sent_at=sent_at)
        mark_recipients(campaign_id, PHONES[-1:], "failed", error="+7 is not on WhatsApp")
        set_campaign_status(campaign_id, "completed")
        return campaign_id


def read_rows(response) -> list[list]:
    assert response.status_code == 200
    if response.mimetype == "text/csv":
        text = response.data.decode("utf-8")
        assert text.startswith("\ufeff")
        return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert {cell.data_type for cell in cells} == {"s"}  # text, never a formula
    return [["" if value is None else value for value in row] for row in sheet.values]


@pytest.mark.parametrize("export", EXPORTS)
def test_results_downloads_carry_no_live_formulas(admin_client, api_key, campaign, export):
    headers = {"Authorization": f"Bearer {api_key}"} if export.startswith("api") else {}
    response = admin_client.get(EXPORTS[export].format(id=campaign), headers=headers)
    rows = read_rows(response)
    header = rows[0]
    assert header[:4] == ["Телефон", "Статус", "Имя", "'=Сумма"]
    by_name = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [row["Телефон"] for row in by_name] == PHONES
    assert [row["Имя"] for row in by_name] == ["'" + text for text in FORMULAS]
    assert {row["'=Сумма"] for row in by_name} == {"-500"}  # a plain number stays a number
    first, last = by_name[0], by_name[-1]
    assert (first["Статус"], first["Сообщение"], first["Время"]) == (
        "Отправлено",
        "'=1+2",
        "2026-12-05 09:30:15",  # Moscow time, to the second
    )
    assert (last["Статус"], last["Ошибка"], last["Попытки"]) == (
        "Ошибка",
        "'+7 is not on WhatsApp",
        "1",
    )


def test_rejects_download_carries_no_live_formulas(admin_client, app, tmp_path):
    path = tmp_path / "клиенты.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file, delimiter=";").writerows([["Телефон"], ["89243555100"], *zip(FORMULAS)])
    with app.app_context():
        report = import_contacts(db.session.connection(), path, path.name, name="x")
        db.session.commit()
        rejected = db.session.scalars(select(ImportReject.value).order_by(ImportReject.row)).all()
    assert len(rejected) >= len(FORMULAS) - 1  # all but the phone written "+7 924 555-10-00"

    rows = read_rows(admin_client.get(f"/lists/{report.list_id}/rejects.csv"))

    assert rows[0] == ["строка", "значение", "причина"]
    assert [row[1] for row in rows[1:]] == ["'" + value for value in rejected]
    assert "'-1+cmd|' /C calc'!A0" in [row[1] for row in rows[1:]]


def test_a_csv_export_is_the_same_bytes_on_every_database(admin_client, app, admin):
    """Cells a writer could get wrong: quotes, ``;``, line breaks, blanks, empty and missing
    values, Cyrillic, formulas beside plain numbers, and a time on the other side of midnight."""
    with app.app_context():
        fields = [
            {"Имя": 'Анна "Ёж"; ООО', "Заметка": "две\r\nстроки"},
            {"Имя": "", "Заметка": "=1+2"},
            {"Имя": " пробел ", "Заметка": "-5"},
            {"Имя": "Олег"},  # no note at all
        ]
        contact_list = make_list(PHONES[:4], fields)
        campaign_id = make_campaign(contact_list.id, "Привет, {{ Имя }}!", start=True)
        sent_at = datetime(2026, 7, 1, 21, 59, 59, 999999, tzinfo=UTC)
        mark_recipients(campaign_id, PHONES[:2], "sent", message="Привет; «да»", sent_at=sent_at)
        mark_recipients(campaign_id, PHONES[2:3], "failed", error='+7 "нет"\nв WhatsApp')

    data = admin_client.get(f"/campaigns/{campaign_id}/export.csv").data

    assert data.decode("utf-8").split("\r\n") == [
        "\ufeffТелефон;Статус;Имя;Заметка;Сообщение;ID сообщения;Статус в шлюзе;Ошибка;Попытки;"
        "Время",
        '79243550000;Отправлено;"Анна ""Ёж""; ООО";"две',  # a line break inside quotes
        'строки";"Привет; «да»";;;;1;2026-07-02 00:59:59',  # Moscow time, to the second
        '79243550001;Отправлено;;\'=1+2;"Привет; «да»";;;;1;2026-07-02 00:59:59',
        '79243550002;Ошибка; пробел ;-5;;;;"\'+7 ""нет""\nв WhatsApp";1;',
        "79243550003;В очереди;Олег;;;;;;0;",
        "",
    ]


def test_a_download_left_halfway_stops_reading_the_database(admin_client, campaign, monkeypatch):
    monkeypatch.setattr("webapp.results.export.BATCH_ROWS", 2)  # several batches to read
    response = admin_client.get(f"/campaigns/{campaign}/export.csv", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith("\ufeff".encode())  # the header; rows are read meanwhile

    response.close()  # the client went away

    assert not [thread for thread in threading.enumerate() if thread.name == "export-reader"]
    assert read_rows(admin_client.get(f"/campaigns/{campaign}/export.csv"))[1][0] == PHONES[0]


@pytest.fixture
def reminders(app, admin):
    """A started reminder campaign: one due time inside the send window, one moved, one
    unreadable."""
    with app.app_context():
        visits = ["05.12.2030 14:00", "05.12.2030 09:30", "потом"]
        contact_list = make_list(PHONES[:3], [{"Визит": visit} for visit in visits])
        schedule = {"column": "Визит", "rule": "before", "hours": 2}
        return make_campaign(contact_list.id, "Ждём вас", schedule=schedule, start=True)


@pytest.mark.parametrize("export", EXPORTS)
def test_reminder_downloads_end_with_each_due_time(admin_client, api_key, reminders, export):
    headers = {"Authorization": f"Bearer {api_key}"} if export.startswith("api") else {}
    rows = read_rows(admin_client.get(EXPORTS[export].format(id=reminders), headers=headers))
    assert rows[0][-3:] == ["Время", "Время по плану", "Окно отправки"]
    assert [row[-2:] for row in rows[1:]] == [
        ["2030-12-05 12:00:00", ""],
        ["2030-12-05 09:00:00", "вне окна отправки: когда оно откроется"],  # not 07:30
        ["", ""],
    ]


def test_downloads_without_a_schedule_keep_their_columns(admin_client, campaign):
    header = read_rows(admin_client.get(f"/campaigns/{campaign}/export.csv"))[0]
    outcome = ["Сообщение", "ID сообщения", "Статус в шлюзе", "Ошибка", "Попытки", "Время"]
    assert header[4:] == outcome
