"""Saving the campaign editor's message for later: posted, never a URL with its text."""

import html
import re

import pytest

from webapp.extensions import db
from webapp.models import MessageTemplate

from ..factories import make_list

TEXT = "Здравствуйте, {{ Имя }}! Скидка 10% до пятницы"


@pytest.fixture
def compose_page(admin_client, app) -> str:
    with app.app_context():
        make_list(["79001234567"], [{"Имя": "Анна"}])
    return admin_client.get("/campaigns/new").get_data(as_text=True)


def test_the_editor_posts_the_message_to_save_it(compose_page):
    form = re.search(r'<form method="post" id="compose".*?</form>', compose_page, re.S)[0]
    button = re.search(r"<button[^>]*>Сохранить как шаблон</button>", form)[0]
    assert 'formaction="/saved-messages/new/from-campaign"' in button
    assert "formmethod" not in button  # the form's own method: POST, with its CSRF token


def test_the_posted_message_is_offered_under_the_campaign_name_and_saved(
    admin_client, compose_page, app
):
    offered = admin_client.post(
        "/saved-messages/new/from-campaign",
        data={"name": "Пятничная акция", "list_id": "1", "template": TEXT},
    )
    page = html.unescape(offered.get_data(as_text=True))
    assert offered.status_code == 200
    assert 'value="Пятничная акция"' in page and f">{TEXT}</textarea>" in page

    saved = admin_client.post("/saved-messages/new", data={"name": "Пятница", "body": TEXT})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.query(MessageTemplate.name, MessageTemplate.body).all() == [
            ("Пятница", TEXT)
        ]


def test_a_message_in_the_url_is_not_taken(admin_client):
    page = admin_client.get("/saved-messages/new", query_string={"template": TEXT})
    assert page.status_code == 200
    assert "Скидка" not in page.get_data(as_text=True)
