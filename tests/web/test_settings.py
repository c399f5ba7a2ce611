import re

import pytest

from tests.conftest import MEMBER_EMAIL, PASSWORD, sign_in
from webapp.extensions import db
from webapp.models import User
from webapp.settings import sending_defaults

TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"


@pytest.fixture
def member_client(app, member):
    client = app.test_client()
    assert sign_in(client, MEMBER_EMAIL).status_code == 302
    return client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/settings/"),
        ("post", "/settings/gateway"),
        ("post", "/settings/defaults"),
        ("post", "/settings/users"),
        ("post", "/settings/api-keys"),
    ],
)
def test_settings_are_for_administrators_only(member_client, method, path):
    assert getattr(member_client, method)(path).status_code == 403


def test_members_do_not_see_the_settings_link(member_client):
    assert "/settings/" not in member_client.get("/").get_data(as_text=True)


def test_sandbox_banner_until_a_token_is_saved_and_the_token_is_never_shown(admin_client):
    assert "Режим песочницы" in admin_client.get("/").get_data(as_text=True)
    admin_client.post(
        "/settings/gateway", data={"token": TOKEN, "apps": "12 Основной\n15 Запасной"}
    )
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert TOKEN not in page
    assert "••••" + TOKEN[-4:] in page
    assert "12 Основной" in page
    assert "Режим песочницы" not in admin_client.get("/").get_data(as_text=True)


def test_sandbox_switch_keeps_the_sandbox_with_a_token(admin_client):
    admin_client.post("/settings/gateway", data={"token": TOKEN, "sandbox": "1"})
    assert "Режим песочницы" in admin_client.get("/").get_data(as_text=True)


def test_bad_gateway_input_is_refused_and_nothing_saved(admin_client):
    response = admin_client.post(
        "/settings/gateway", data={"token": TOKEN, "apps": "main account"}, follow_redirects=True
    )
    assert "alert-danger" in response.get_data(as_text=True)
    assert "Режим песочницы" in admin_client.get("/").get_data(as_text=True)


def test_default_sending_options_are_checked_and_saved(admin_client, app):
    bad = admin_client.post(
        "/settings/defaults",
        data={"rate_per_minute": "30", "delay_min_s": "10", "delay_max_s": "5"},
        follow_redirects=True,
    )
    assert "alert-danger" in bad.get_data(as_text=True)
    admin_client.post(
        "/settings/defaults",
        data={
            "rate_per_minute": "30",
            "window_start": "10:00",
            "window_end": "19:30",
            "timezone": "Asia/Vladivostok",
            "daily_limit": "500",
        },
    )
    with app.app_context():
        defaults = sending_defaults()
    assert defaults["rate_per_minute"] == 30
    assert defaults["daily_limit"] == 500
    assert defaults["send_window"] == {
        "start": "10:00",
        "end": "19:30",
        "timezone": "Asia/Vladivostok",
    }


def test_admin_adds_and_deletes_users(admin_client, app):
    admin_client.post(
        "/settings/users", data={"email": "clerk@shop.ru", "password": PASSWORD, "role": "member"}
    )
    with app.app_context():
        clerk = db.session.scalar(db.select(User).where(User.email == "clerk@shop.ru"))
        assert clerk.role == "member"
    admin_client.post(f"/settings/users/{clerk.id}/delete")
    with app.app_context():
        assert db.session.scalar(db.select(User).where(User.email == "clerk@shop.ru")) is None


def test_new_api_key_is_shown_once_and_works(admin_client, client):
    page = admin_client.post("/settings/api-keys", data={"name": "CRM"}).get_data(as_text=True)
    key = re.search(r'id="new-key">([^<]+)<', page).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert key not in admin_client.get("/settings/").get_data(as_text=True)
