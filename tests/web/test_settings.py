import re

import pytest

from tests.conftest import MEMBER_EMAIL, PASSWORD, sign_in
from webapp import create_app
from webapp.account_settings import gateway_settings, get_setting, sending_defaults, set_setting
from webapp.extensions import db
from webapp.models import User, utcnow
from webapp.numbers import list_numbers
from webapp.sending.telefon_ip import DEFAULT_BASE_URL

TOKEN = "4ea13fbf-f5a3-4084-8b01-9733cd6fd0b1"
CONFIG_TOKEN = "0b7c2d2e-6f1a-4c55-9a43-8d1e2f3a4b5c"


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
    admin_client.post("/settings/gateway", data={"token": TOKEN})
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert TOKEN not in page
    assert "••••" + TOKEN[-4:] in page
    assert "Режим песочницы" not in admin_client.get("/").get_data(as_text=True)


def test_sandbox_switch_keeps_the_sandbox_with_a_token(admin_client):
    admin_client.post("/settings/gateway", data={"token": TOKEN, "sandbox": "1"})
    assert "Режим песочницы" in admin_client.get("/").get_data(as_text=True)


def test_bad_gateway_input_is_refused_and_nothing_saved(admin_client):
    response = admin_client.post(
        "/settings/gateway",
        data={"token": TOKEN, "base_url": "http://plain.test"},
        follow_redirects=True,
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


def effective_gateway(app):
    with app.app_context():
        return gateway_settings(app.config)


@pytest.mark.parametrize(
    "address",
    [
        "http://api.telefon-ip.ru/whatsapp",
        "ftp://api.telefon-ip.ru/whatsapp",
        "api.telefon-ip.ru/whatsapp",
        "https://",
        "https://user:secret@evil.test/whatsapp",
        "https://evil.test/whatsapp?copy=1",
        "https://evil.test/whatsapp#x",
        "https://evil .test/whatsapp",
        "https://[::1/whatsapp",
        "https://evil.test:port/whatsapp",
    ],
)
def test_a_gateway_address_from_the_page_must_be_plain_https(admin_client, app, address):
    response = admin_client.post(
        "/settings/gateway", data={"token": TOKEN, "base_url": address}, follow_redirects=True
    )
    assert "Адрес шлюза должен быть полным адресом https://" in response.get_data(as_text=True)
    with app.app_context():
        assert get_setting("gateway", {}) == {}
    assert effective_gateway(app).base_url == DEFAULT_BASE_URL


def test_an_https_gateway_address_from_the_page_is_used(admin_client, app):
    admin_client.post(
        "/settings/gateway", data={"token": TOKEN, "base_url": "https://gw.example.ru/wa/"}
    )
    gateway = effective_gateway(app)
    assert (gateway.token, gateway.base_url) == (TOKEN, "https://gw.example.ru/wa")


def test_a_plain_http_address_saved_before_is_not_used(app):
    with app.app_context():
        set_setting("gateway", {"token": TOKEN, "base_url": "http://evil.test/whatsapp"})
        db.session.commit()
    assert effective_gateway(app).base_url == DEFAULT_BASE_URL


@pytest.fixture
def configured_app(app, app_config, admin):
    """The same site, served with the gateway token set in the server configuration."""
    configured = create_app({**app_config, "TELEFON_IP_TOKEN": CONFIG_TOKEN})
    yield configured
    with configured.app_context():
        db.engine.dispose()


def test_a_configured_token_goes_only_to_the_configured_address(app, configured_app):
    with app.app_context():
        set_setting("gateway", {"token": TOKEN, "base_url": "https://evil.test/whatsapp"})
        db.session.commit()
    gateway = effective_gateway(configured_app)
    assert (gateway.token, gateway.base_url) == (CONFIG_TOKEN, DEFAULT_BASE_URL)

    admin_client = configured_app.test_client()
    sign_in(admin_client)
    page = admin_client.get("/settings/").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="token"[^>]*disabled', page)
    assert re.search(rf'<input[^>]*id="base_url" value="{DEFAULT_BASE_URL}" disabled', page)
    assert CONFIG_TOKEN not in page

    for field in ("base_url", "token"):
        response = admin_client.post(
            "/settings/gateway", data={field: "https://evil.test/x"}, follow_redirects=True
        )
        assert "заданы в конфигурации сервера" in response.get_data(as_text=True)
    assert effective_gateway(configured_app).base_url == DEFAULT_BASE_URL


def test_the_sandbox_can_still_be_chosen_with_a_configured_token(configured_app):
    admin_client = configured_app.test_client()
    sign_in(admin_client)
    admin_client.post("/settings/gateway", data={"sandbox": "1"})
    assert effective_gateway(configured_app).use_sandbox


NEW_PASSWORD = "a brand new secret"


def test_admin_sets_a_users_password_and_their_sessions_end(admin_client, member_client, app):
    page = admin_client.get("/settings/").get_data(as_text=True)
    member_id = re.search(r'action="/settings/users/(\d+)/password"', page).group(1)
    response = admin_client.post(
        f"/settings/users/{member_id}/password",
        data={"password": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert f"Для {MEMBER_EMAIL} задан новый пароль" in response.get_data(as_text=True)
    assert member_client.get("/").status_code == 302
    assert sign_in(app.test_client(), MEMBER_EMAIL, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), MEMBER_EMAIL, NEW_PASSWORD).status_code == 302


def test_a_too_short_password_is_refused_and_nothing_changes(admin_client, member_client, member):
    response = admin_client.post(
        f"/settings/users/{member}/password", data={"password": "short"}, follow_redirects=True
    )
    assert "alert-danger" in response.get_data(as_text=True)
    assert member_client.get("/").status_code == 200


def test_admins_change_their_own_password_on_their_account_page(admin_client, admin):
    response = admin_client.post(
        f"/settings/users/{admin}/password", data={"password": NEW_PASSWORD}, follow_redirects=True
    )
    assert "на странице своей учётной записи" in response.get_data(as_text=True)
    assert admin_client.get("/").status_code == 200


def test_numbers_are_added_limited_and_paused_on_the_settings_page(admin_client, app):
    admin_client.post("/settings/numbers", data={"app": "31", "label": "Магазин"})
    saved = admin_client.post(
        "/settings/numbers",
        data={
            "app": "31",
            "label": "Магазин",
            "rate_per_minute": "20",
            "daily_limit": "300",
            "warmup_start": "30",
            "warmup_growth_percent": "25",
            "paused": "1",
        },
        follow_redirects=True,
    )
    page = saved.get_data(as_text=True)
    assert "alert-success" in page
    assert "Магазин" in page and 'value="300"' in page
    assert "лимит сегодня 30" in page  # the first day of the warm-up
    assert 'role="img"' in page  # the 14-day chart
    with app.app_context():
        (number,) = [n for n in list_numbers(db.session.connection(), utcnow()) if n["app"]]
    assert (number["rate_per_minute"], number["paused"]) == (20.0, True)
    assert number["warmup"] == {"start": 30, "growth_percent": 25.0}


def test_bad_number_values_are_refused_with_a_message(admin_client, app):
    response = admin_client.post(
        "/settings/numbers",
        data={"app": "", "label": "", "rate_per_minute": "fast", "daily_limit": ""},
        follow_redirects=True,
    )
    assert "alert-danger" in response.get_data(as_text=True)
    with app.app_context():
        assert list_numbers(db.session.connection(), utcnow())[0]["rate_per_minute"] is None
    refused = admin_client.post(
        "/settings/numbers", data={"app": "abc", "label": "x"}, follow_redirects=True
    )
    assert "alert-danger" in refused.get_data(as_text=True)
