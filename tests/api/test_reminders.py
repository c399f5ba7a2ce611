"""Reminder campaigns over the API: the schedule option, due times in preview and results, and
rows added to a running campaign as JSON or a file."""

import io

import pytest
from sqlalchemy import update

from tests.factories import make_list, make_opt_outs
from webapp.extensions import db
from webapp.models import Campaign

EN = {"Accept-Language": "en"}
SCHEDULE = {
    "column": "Визит",
    "time_column": None,
    "rule": "before",
    "days": 1,
    "hours": 0,
    "at": "10:00",
    "late": "skip",
}


@pytest.fixture
def list_id(app):
    with app.app_context():
        contact_list = make_list(
            ["79243555100", "79243555101"],
            [{"Имя": "Анна", "Визит": "05.12.2030 09:30"}, {"Имя": "Олег", "Визит": "скоро"}],
        )
        make_opt_outs("79243555199")
        return contact_list.id


@pytest.fixture
def reminders(api, list_id):
    """A started reminder campaign's id."""
    body = {"name": "Визиты", "list_id": list_id, "template": "{{ Имя }}, ждём вас"}
    created = api.post("/api/v1/campaigns", json={**body, "schedule": SCHEDULE})
    assert created.status_code == 201, created.json
    assert created.json["schedule"] == SCHEDULE
    campaign_id = created.json["id"]
    assert api.post(f"/api/v1/campaigns/{campaign_id}/start").status_code == 200
    return campaign_id


def test_a_bad_schedule_is_a_clear_422(api, list_id):
    body = {"name": "Визиты", "list_id": list_id, "template": "Ждём вас"}
    for schedule, words in [
        ({"column": "Визит", "rule": "after"}, "rule"),
        ({"column": "Дата"}, "no column “Дата”"),
    ]:
        response = api.post("/api/v1/campaigns", json={**body, "schedule": schedule}, headers=EN)
        assert response.status_code == 422
        assert response.json["field"] == "schedule" and words in response.json["error"]


def test_preview_and_results_show_each_due_time(api, list_id, reminders):
    preview = api.get(f"/api/v1/campaigns/{reminders}/preview", headers=EN).json["items"]
    assert preview[0]["due_at"] == "2030-12-04T07:00:00+00:00"  # 10:00 in Moscow
    assert preview[1]["due_at"] is None
    assert "cannot be read" in preview[1]["warnings"][0]

    results = api.get(f"/api/v1/campaigns/{reminders}/results", headers=EN).json["items"]
    assert [(r["status"], r["due_at"]) for r in results] == [
        ("pending", "2030-12-04T07:00:00+00:00"),
        ("skipped", None),
    ]
    assert results[1]["error"] == "The date or time of the visit cannot be read"
    assert [r["due_moved"] for r in results] == [False, False]


def test_results_say_when_the_send_window_moved_a_due_time(api, list_id):
    window = {"start": "11:00", "end": "21:00", "timezone": "Europe/Moscow"}
    body = {"name": "Визиты", "list_id": list_id, "template": "Ждём вас", "send_window": window}
    created = api.post("/api/v1/campaigns", json={**body, "schedule": SCHEDULE}).json
    assert api.post(f"/api/v1/campaigns/{created['id']}/start").status_code == 200
    rows = [{"Телефон": "79243555102", "Визит": "07.12.2030 08:00"}]
    added = api.post(f"/api/v1/campaigns/{created['id']}/recipients", json={"rows": rows})
    assert added.status_code == 200, added.json
    results = api.get(f"/api/v1/campaigns/{created['id']}/results").json["items"]
    # 10:00 the day before, moved to 11:00 when the window opens.
    assert [(r["due_at"], r["due_moved"]) for r in results] == [
        ("2030-12-04T08:00:00+00:00", True),
        (None, False),
        ("2030-12-06T08:00:00+00:00", True),
    ]


def test_rows_added_as_json_are_deduplicated_by_phone_and_due_time(api, reminders):
    rows = [
        {"Телефон": "79243555100", "Имя": "Анна", "Визит": "05.12.2030 09:30"},  # has it
        {"Телефон": "79243555100", "Имя": "Анна", "Визит": "12.12.2030 09:30"},  # next visit
        {"Телефон": "8 924 355-51-02", "Имя": "Ира", "Визит": "06.12.2030 10:00"},
        {"Телефон": "79243555199", "Имя": "Нет", "Визит": "06.12.2030 10:00"},  # opted out
        {"Телефон": "12", "Имя": "?", "Визит": "06.12.2030 10:00"},
    ]
    response = api.post(f"/api/v1/campaigns/{reminders}/recipients", json={"rows": rows})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["added"], body["skipped"], body["duplicates"]) == (2, 1, 1)
    assert [r["row"] for r in body["rejected"]] == [5]
    assert body["campaign"]["counts"]["total"] == 5
    assert body["campaign"]["counts"]["pending"] == 3

    again = api.post(f"/api/v1/campaigns/{reminders}/recipients", json={"rows": rows})
    assert (again.json["added"], again.json["duplicates"]) == (0, 4)


def test_rows_added_as_a_file_are_read_as_list_uploads_are(api, reminders):
    data = "Телефон;Имя;Визит\n79243555105;Вера;07.12.2030 15:00\n".encode("cp1251")
    response = api.post(
        f"/api/v1/campaigns/{reminders}/recipients",
        data={"file": (io.BytesIO(data), "more.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["added"] == 1
    results = api.get(f"/api/v1/campaigns/{reminders}/results?q=79243555105").json["items"]
    assert results[0]["due_at"] == "2030-12-06T07:00:00+00:00"
    assert results[0]["fields"] == {"Имя": "Вера", "Визит": "07.12.2030 15:00"}


def test_adding_rows_wakes_a_resting_campaign(app, api, reminders):
    with app.app_context():
        db.session.execute(update(Campaign).values(next_due_at=db.func.now()))
        db.session.commit()
    rows = [{"Телефон": "79243555106", "Имя": "Ян", "Визит": "08.12.2030 10:00"}]
    body = api.post(f"/api/v1/campaigns/{reminders}/recipients", json={"rows": rows}).json
    assert body["campaign"]["next_reminder_at"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [({"rows": []}, 422), ({"rows": "x"}, 422), ({"rows": [["79243555100"]]}, 422), ({}, 422)],
)
def test_bad_rows_are_refused_clearly(api, reminders, body, status):
    response = api.post(f"/api/v1/campaigns/{reminders}/recipients", json=body, headers=EN)
    assert response.status_code == status
    assert response.json["error"]


def test_rows_cannot_be_added_to_a_draft(api, list_id):
    body = {"name": "Визиты", "list_id": list_id, "template": "Ждём", "schedule": SCHEDULE}
    draft = api.post("/api/v1/campaigns", json=body).json["id"]
    rows = [{"Телефон": "79243555106"}]
    response = api.post(f"/api/v1/campaigns/{draft}/recipients", json={"rows": rows})
    assert response.status_code == 409
