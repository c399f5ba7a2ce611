import re
import time
from datetime import timedelta
from statistics import median

import pytest
from sqlalchemy import select

from tests.conftest import ADMIN_EMAIL, PASSWORD, sign_in
from webapp.extensions import db
from webapp.models import LoginFailure, User, utcnow

NEW_PASSWORD = "a brand new secret"


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


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/phish",
        "/%09/evil.test",
        "/%0A/evil.test",
        "/%0D%0A/evil.test",
        "/%2F/evil.test",
        "/%5Cevil.test",
        "/%5C/evil.test",
        "https://evil.test/",
        "javascript:alert(1)",
        "evil.test",
    ],
)
def test_next_parameter_never_leads_off_site(client, admin, target):
    response = client.post(
        f"/login?next={target}", data={"email": ADMIN_EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_parameter_leads_back_to_the_page_asked_for(client, admin):
    response = client.post(
        "/login?next=/campaigns/%3Fstatus%3Drunning",
        data={"email": ADMIN_EMAIL, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/campaigns/?status=running"


# -- sessions end when they should --------------------------------------------------------------


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/").status_code == 200
    return thief


def test_a_cookie_copied_before_sign_out_stops_working(app, admin_client):
    thief = copy_of(app, admin_client)
    admin_client.post("/logout")
    assert thief.get("/").status_code == 302
    assert "/login" in thief.get("/").headers["Location"]


def test_sign_out_on_other_devices_keeps_this_one(app, admin_client):
    thief = copy_of(app, admin_client)
    response = admin_client.post("/account/sign-out-others", follow_redirects=True)
    assert "Вы вышли на всех других устройствах" in response.get_data(as_text=True)
    assert admin_client.get("/").status_code == 200
    assert thief.get("/").status_code == 302


def test_password_change_ends_every_other_session(app, admin_client):
    thief = copy_of(app, admin_client)
    assert "Сменить пароль" in admin_client.get("/account").get_data(as_text=True)
    response = admin_client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert admin_client.get("/").status_code == 200
    assert thief.get("/").status_code == 302
    assert sign_in(app.test_client(), password=PASSWORD).status_code == 401
    assert sign_in(app.test_client(), password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"current": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, 401),
        ({"current": PASSWORD, "password": "short", "confirm": "short"}, 400),
        ({"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "something else"}, 400),
    ],
)
def test_password_change_needs_the_current_password_and_a_good_new_one(
    app, admin_client, data, status
):
    thief = copy_of(app, admin_client)
    response = admin_client.post("/account/password", data=data)
    assert response.status_code == status
    assert "alert-danger" in response.get_data(as_text=True) or "is-invalid" in response.text
    assert thief.get("/").status_code == 200
    assert sign_in(app.test_client(), password=PASSWORD).status_code == 302


def test_a_cookie_from_before_session_generations_is_refused(app, admin, client):
    with client.session_transaction() as session:
        session["_user_id"] = str(admin)
    assert client.get("/").status_code == 302


# -- guessing passwords -------------------------------------------------------------------------


def attempt(client, ip: str, password: str, email: str = ADMIN_EMAIL) -> int:
    response = client.post(
        "/login",
        data={"email": email, "password": password},
        environ_overrides={"REMOTE_ADDR": ip},
    )
    return response.status_code


def test_failures_from_one_address_do_not_lock_the_owner_out_elsewhere(client, admin):
    for _ in range(5):
        assert attempt(client, "203.0.113.7", "guess") == 401
    assert attempt(client, "203.0.113.7", PASSWORD) == 429
    assert attempt(client, "198.51.100.20", PASSWORD) == 302


def test_one_ipv6_network_counts_as_one_address(client, admin):
    for host in range(1, 6):
        assert attempt(client, f"2001:db8:1:2::{host}", "guess") == 401
    assert attempt(client, "2001:db8:1:2::99", PASSWORD) == 429
    assert attempt(client, "2001:db8:1:3::1", PASSWORD) == 302


def test_many_addresses_meet_the_slower_limit_per_account(app, client, admin):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 8
    for host in range(1, 5):
        for _ in range(2):
            assert attempt(client, f"192.0.2.{host}", "guess") == 401
    assert attempt(client, "192.0.2.200", PASSWORD) == 429
    assert attempt(client, "192.0.2.200", PASSWORD, email="someone@else.ru") == 401


def test_unknown_emails_take_as_long_to_refuse_as_known_ones(app, client, admin):
    """Otherwise the time taken tells which e-mail addresses have an account."""
    app.config.update(LOGIN_MAX_FAILURES=100, LOGIN_MAX_FAILURES_PER_IP=100)

    def refusal_time(email: str) -> float:
        start = time.perf_counter()
        assert sign_in(client, email, "wrong password").status_code == 401
        return time.perf_counter() - start

    refusal_time("warm@example.com")
    known, unknown = [], []
    for _ in range(5):
        known.append(refusal_time(ADMIN_EMAIL))
        unknown.append(refusal_time("nobody@example.com"))
    assert median(unknown) > median(known) / 2, (known, unknown)


def test_old_failures_are_forgotten_as_new_ones_come(app, client, admin):
    with app.app_context():
        long_ago = utcnow() - timedelta(days=2)
        db.session.add_all(
            LoginFailure(email=f"old{n}@example.com", ip="192.0.2.1", created_at=long_ago)
            for n in range(3)
        )
        db.session.commit()
    assert sign_in(client, password="guess").status_code == 401
    with app.app_context():
        assert db.session.scalars(select(LoginFailure.email)).all() == [ADMIN_EMAIL]


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
