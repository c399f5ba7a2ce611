import json
import re

from tests.factories import make_campaign, make_list, mark_recipients
from webapp.account_settings import TEST_SENT, set_setting
from webapp.extensions import db
from webapp.models import SavedMessage, utcnow

PHONES = ["79243555100", "79243555101", "79243555102"]


def running_campaign(app, admin) -> int:
    with app.app_context():
        contact_list = make_list(PHONES, [{"Имя": "Анна"}] * 3)
        campaign_id = make_campaign(contact_list.id, "Привет, {{ Имя }}", name="Акция", start=True)
        mark_recipients(campaign_id, PHONES[:2], "sent", sent_at=utcnow())
        mark_recipients(campaign_id, PHONES[2:], "failed", error="bad number")
        return campaign_id


def test_dashboard_shows_running_campaigns_todays_totals_and_the_chart(app, admin, admin_client):
    running_campaign(app, admin)
    page = admin_client.get("/").get_data(as_text=True)
    assert "Акция" in page
    assert re.search(r'data-today="sent">2<', page) and re.search(r'data-today="failed">1<', page)
    by_day, by_hour = (json.loads(s) for s in re.findall(r"data-sent='([^']+)'", page))
    assert len(by_day) == 14 and by_day[-1] == 2
    assert len(by_hour) == 24 and by_hour[-1] == 2
    assert "Песочница" in page  # no token: the gateway tile says so


def test_a_new_dashboard_shows_first_steps_and_no_empty_chart(admin_client):
    page = admin_client.get("/").get_data(as_text=True)
    assert "Первые шаги" in page
    steps = dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', page))
    assert steps == {"gateway": "false", "list": "false", "test": "false", "launch": "false"}
    assert "Сообщений пока нет" in page
    assert "<canvas" not in page and "chart.umd" not in page


def test_first_steps_tick_as_they_are_done_and_go_once_all_are(app, admin, admin_client):
    running_campaign(app, admin)
    page = admin_client.get("/").get_data(as_text=True)
    steps = dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', page))
    assert steps == {"gateway": "false", "list": "true", "test": "false", "launch": "true"}
    app.config["TELEFON_IP_TOKEN"] = "a-token-for-the-test"
    with app.app_context():
        set_setting(TEST_SENT, True)
        db.session.commit()
    assert "Первые шаги" not in admin_client.get("/").get_data(as_text=True)


def test_saved_messages_start_campaigns(admin_client, app):
    with app.app_context():
        make_list(PHONES, [{"Имя": "Анна"}] * 3)
    admin_client.post(
        "/saved-messages/new", data={"name": "Напоминание", "body": "Ждём вас, {{ Имя }}"}
    )
    with app.app_context():
        saved = db.session.scalar(db.select(SavedMessage))
        assert saved.body == "Ждём вас, {{ Имя }}"
    compose = admin_client.get(f"/campaigns/new?template_id={saved.id}").get_data(as_text=True)
    assert "Ждём вас, {{ Имя }}</textarea>" in compose
    admin_client.post(f"/saved-messages/{saved.id}", data={"name": "Новое", "body": "Текст"})
    assert "Новое" in admin_client.get("/saved-messages/").get_data(as_text=True)
    admin_client.post(f"/saved-messages/{saved.id}/delete")
    with app.app_context():
        assert db.session.query(SavedMessage).count() == 0


def test_saving_needs_a_name_and_a_text(admin_client, app):
    response = admin_client.post("/saved-messages/new", data={"name": "", "body": "x"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(SavedMessage).count() == 0
