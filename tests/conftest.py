"""The app/client/runner fixtures, on SQLite or on PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.accounts import create_api_key, create_user
from webapp.extensions import db
from webapp.models import User

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


class PostgresSchema:
    """A throwaway schema on the test server, so runs never see each other's tables."""

    def __init__(self, base_url: str) -> None:
        self.name = f"volna_test_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
        self.url = (
            make_url(base_url)
            .update_query_dict({"options": f"-csearch_path={self.name}"})
            .render_as_string(hide_password=False)
        )

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[PostgresSchema | None]:
    if not POSTGRES_URL:
        yield None
        return
    schema = PostgresSchema(POSTGRES_URL)
    yield schema
    schema.drop()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite file with every migration applied, copied for each test (migrating is slow)."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "volna.sqlite3"
    os.environ["VOLNA_INSTANCE_PATH"] = str(folder / "instance")
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    finally:
        del os.environ["VOLNA_INSTANCE_PATH"]
    with app.app_context():
        connection = db.engine.raw_connection()  # outside any transaction, as PRAGMAs need
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        db.engine.dispose()
    return path


@pytest.fixture
def database_url(request, tmp_path, postgres_schema) -> str:
    if postgres_schema is not None:
        return postgres_schema.url
    path = tmp_path / "volna.sqlite3"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def fresh_database_url(tmp_path) -> Iterator[str]:
    """A database no test has touched: a new SQLite file, or a new PostgreSQL schema."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    schema = PostgresSchema(POSTGRES_URL)
    yield schema.url
    schema.drop()


@pytest.fixture
def instance_path(tmp_path, monkeypatch):
    path = tmp_path / "instance"
    monkeypatch.setenv("VOLNA_INSTANCE_PATH", str(path))
    return path


@pytest.fixture
def app_config(database_url) -> dict:
    """What the test app runs with; tests that need more override fixtures or pass their own."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "localhost",
    }


@pytest.fixture
def app(app_config, instance_path):
    app = create_app(app_config)
    yield app
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


ADMIN_EMAIL = "admin@example.com"
MEMBER_EMAIL = "member@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def admin(app):
    with app.app_context():
        user = create_user(ADMIN_EMAIL, PASSWORD, role="admin")
        db.session.commit()
        return user.id


@pytest.fixture
def member(app):
    with app.app_context():
        user = create_user(MEMBER_EMAIL, PASSWORD)
        db.session.commit()
        return user.id


def sign_in(client, email: str = ADMIN_EMAIL, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def admin_client(client, admin):
    """A browser session signed in as the administrator."""
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def api_key(app, admin) -> str:
    with app.app_context():
        user = db.session.get(User, admin)
        key = create_api_key(user, "tests")
        db.session.commit()
        return key


@pytest.fixture
def api(client, api_key):
    """A client that sends the API key with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_key}"
    return client
