"""First-run setup: one administrator however many arrive at once, and a code from afar."""

import logging
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import flask_migrate
import httpx
import pytest
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from tests.conftest import PASSWORD
from webapp import create_app
from webapp.database import MIGRATIONS_DIR
from webapp.extensions import db
from webapp.models import SetupDone, User

ATTEMPTS = 6


@pytest.fixture
def served(app) -> Iterator[str]:
    """The app behind a real threaded HTTP server on loopback."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()


def setup_form(email: str = "boss@clinic.ru", **extra: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD, "confirm": PASSWORD, **extra}


def users(app) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(select(User.email, User.role)).all()


def test_simultaneous_setups_make_one_administrator(app, served):
    start = threading.Barrier(ATTEMPTS)

    def set_up(n: int) -> httpx.Response:
        with httpx.Client(base_url=served, timeout=60) as http:
            start.wait()
            return http.post("/setup", data=setup_form(f"admin{n}@clinic.ru"))

    with ThreadPoolExecutor(ATTEMPTS) as pool:
        responses = list(pool.map(set_up, range(ATTEMPTS)))

    created = users(app)
    assert len(created) == 1
    assert created[0][1] == "admin"
    assert [r.status_code for r in responses] == [302] * ATTEMPTS
    places = sorted(r.headers["Location"] for r in responses)
    assert places == ["/"] + ["/login"] * (ATTEMPTS - 1)


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"REMOTE_ADDR": "203.0.113.9"}, id="another-computer"),
        pytest.param({"HTTP_HOST": "volna.clinic.ru"}, id="public-name"),
        pytest.param({"HTTP_X_FORWARDED_FOR": "203.0.113.9"}, id="through-a-proxy"),
    ],
)
def test_setup_from_afar_needs_the_code_the_server_logged(app, client, caplog, environ):
    caplog.set_level(logging.WARNING, logger="webapp")
    page = client.get("/setup", environ_overrides=environ).get_data(as_text=True)
    code = re.search(r"setup code (\S+) ", caplog.text).group(1)
    assert 'name="code"' in page
    assert code not in page

    for given in ("", "AAAA-BBBB-CCCC-DDDD"):
        refused = client.post("/setup", data=setup_form(code=given), environ_overrides=environ)
        assert refused.status_code == 403
        assert "Введите код настройки" in refused.get_data(as_text=True)
    assert users(app) == []

    typed = code.lower().replace("-", " ")
    accepted = client.post("/setup", data=setup_form(code=typed), environ_overrides=environ)
    assert accepted.status_code == 302
    assert users(app) == [("boss@clinic.ru", "admin")]


def test_setup_on_the_server_itself_needs_no_code(client, caplog):
    caplog.set_level(logging.WARNING, logger="webapp")
    assert 'name="code"' not in client.get("/setup").get_data(as_text=True)
    assert "setup code" not in caplog.text


def test_an_install_set_up_before_the_upgrade_stays_set_up(
    app_config, fresh_database_url, instance_path
):
    old = create_app(
        {**app_config, "SQLALCHEMY_DATABASE_URI": fresh_database_url, "AUTO_MIGRATE": False}
    )
    with old.app_context():
        flask_migrate.upgrade(directory=str(MIGRATIONS_DIR), revision="0002")
        db.session.execute(
            text(
                "INSERT INTO users (email, password_hash, role, created_at) "
                "VALUES ('boss@clinic.ru', 'x', 'admin', CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        flask_migrate.upgrade(directory=str(MIGRATIONS_DIR))
        assert db.session.scalar(select(func.count()).select_from(SetupDone)) == 1
        assert db.session.scalar(select(User.session_generation)) == 0
        db.engine.dispose()
