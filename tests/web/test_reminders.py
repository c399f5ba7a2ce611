"""Reminders on the pages: the wizard's schedule, due times in the preview, the timeline and
the waiting text on the campaign page, rows added from a file."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.factories import make_campaign, make_list
from webapp.campaigns import service
from webapp.extensions import db
from webapp.models import Campaign

SOON = datetime.now(UTC) + timedelta(days=3)


def visit(days: int, time: str = "12:00") -> str:
    return (SOON + timedelta(days=days)).strftime(f"%d.%m.%Y {time}")


@pytest.fixture
def draft(app, admin):
    with app.app_context():
        contact_list = make_list(
            ["79243555100", "79243555101", "79243555102"],
            [
                {"Имя": "Анна", "Визит": visit(0)},
                {"Имя": "Олег", "Визит": visit(0, "15:00")},
                {"Имя": "Ира", "Визит": "потом"},
            ],
        )
        return make_campaign(
            contact_list.id, "{{ Имя }}, ждём вас {{ Визит }}", created_by_id=admin
        )


LAUNCH = {
    "rate_per_minute": "60",
    "window_start": "09:00",
    "window_end": "21:00",
    "timezone": "Europe/Moscow",
    "schedule_column": "Визит",
    "schedule_time_column": "",
    "schedule_rule": "before",
    "schedule_days": "1",
    "schedule_hours": "",
    "schedule_at": "10:00",
    "late": "skip",
    "grace_hours": "",
}


def test_the_wizard_offers_the_lists_columns_for_the_schedule(admin_client, draft):
    page = admin_client.get(f"/campaigns/{draft}/launch").get_data(as_text=True)
    assert re.search(r'<select[^>]*id="schedule_column"[^>]*>.*<option>Визит</option>', page, re.S)


def test_the_estimate_of_reminders_says_first_last_and_most_per_day(admin_client, draft):
    fragment = admin_client.post(f"/campaigns/{draft}/estimate", data=LAUNCH).get_data(True)
    day = (SOON - timedelta(days=1)).day
    assert f"Первое — {day} " in fragment and "не больше 2 в день" in fragment
    bad = admin_client.post(f"/campaigns/{draft}/estimate", data={**LAUNCH, "schedule_at": "25:00"})
    assert "ЧЧ:ММ" in bad.get_data(True)


def test_launching_with_a_schedule_then_the_page_shows_the_timeline(admin_client, draft, app):
    launched = admin_client.post(f"/campaigns/{draft}/start", data={**LAUNCH, "confirm": "3"})
    assert launched.status_code == 302
    page = admin_client.get(f"/campaigns/{draft}").get_data(as_text=True)
    assert "Напоминания по дням" in page
    assert re.search(r"<td>[^<]*\d+ \w+</td><td class=\"text-end\">2</td>", page)
    with app.app_context():
        db.session.execute(update(Campaign).values(next_due_at=SOON))
        db.session.commit()
    progress = admin_client.get(f"/campaigns/{draft}/progress").get_data(as_text=True)
    assert "Ждёт следующего напоминания" in progress


def test_the_preview_shows_each_due_time_and_why_one_is_skipped(admin_client, draft):
    with admin_client.application.app_context():
        service.update_campaign(db.session, draft, {"schedule": {"column": "Визит", "rule": "at"}})
        db.session.commit()
    page = admin_client.get(f"/campaigns/{draft}/preview").get_data(as_text=True)
    assert page.count("Уйдёт ") == 2
    assert "Будет пропущен: Не удалось прочитать дату или время визита." in page


def test_rows_added_from_a_file_on_the_campaign_page(admin_client, draft):
    admin_client.post(f"/campaigns/{draft}/start", data={**LAUNCH, "confirm": "3"})
    data = f"Телефон;Имя;Визит\n79243555105;Вера;{visit(2)}\n79243555100;Анна;{visit(0)}\n"
    response = admin_client.post(
        f"/campaigns/{draft}/recipients",
        data={"file": (io.BytesIO(data.encode()), "more.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Добавлено: 1; пропущено: 0; уже были: 1; без верного номера: 0." in page


def test_the_results_say_which_due_times_the_send_window_moved(admin_client, draft):
    # 10:00 the day before, and the window opens at 11:00.
    launch = {**LAUNCH, "window_start": "11:00", "confirm": "3"}
    assert admin_client.post(f"/campaigns/{draft}/start", data=launch).status_code == 302
    page = admin_client.get(f"/campaigns/{draft}/results").get_data(as_text=True)
    assert page.count("в план: ") == 2
    assert page.count("вне окна отправки: когда оно откроется") == 2
