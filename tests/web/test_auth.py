import re

import pytest

from tests.conftest import ADMIN_EMAIL, PASSWORD, sign_in
from webapp.extensions import db
from webapp.models import User


def test_fresh_install_sends_everyone_to_first_run_setup(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")
    assert client.get("/login").headers["Location"].endswith("/setup")


def test_setup_creates_the_first_admin_and_signs_them_in(client, app):
    response = client.post(
        "/setup",
        data={"email": "Boss@Clinic.ru", "password": PASSWORD, "confirm": PASSWORD},
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.query(User).one()
        assert (user.email, user.role) == ("boss@clinic.ru", "admin")
        assert user.password_hash != PASSWORD
    assert client.get("/").status_code == 200


def test_setup_is_closed_once_a_user_exists(client, admin):
    response = client.post(
        "/setup", data={"email": "x@y.ru", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.headers["Location"].endswith("/login")


def test_setup_refuses_mismatched_passwords_in_russian(client, app):
    response = client.post(
        "/setup", data={"email": "a@b.ru", "password": PASSWORD, "confirm": "other-pass"}
    )
    assert response.status_code == 400
    assert "Пароли не совпадают" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(User).count() == 0


def test_pages_need_sign_in(client, admin):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_and_sign_out(client, admin):
    assert sign_in(client).headers["Location"].endswith("/")
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("email", [ADMIN_EMAIL, "nobody@example.com"])
def test_wrong_password_or_unknown_user_get_the_same_clear_message(client, admin, email):
    response = sign_in(client, email, "wrong password")
    assert response.status_code == 401
    assert "Неверный e-mail или пароль" in response.get_data(as_text=True)


def test_repeated_failures_throttle_even_the_right_password(client, admin):
    for _ in range(5):
        assert sign_in(client, password="guess").status_code == 401
    response = sign_in(client)
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.get_data(as_text=True)


def test_next_parameter_never_leads_off_site(client, admin):
    response = client.post(
        "/login?next=//evil.example/phish", data={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


@pytest.fixture
def csrf_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_form_post_without_csrf_token_is_refused(csrf_config, instance_path):
    from webapp import create_app

    app = create_app(csrf_config)
    client = app.test_client()
    response = client.post(
        "/setup", data={"email": "a@b.ru", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 400
    assert "Форма устарела" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(User).count() == 0
    page = client.get("/setup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/setup",
        data={"email": "a@b.ru", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
