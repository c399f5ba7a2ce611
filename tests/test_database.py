from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from webapp import create_app
from webapp.database import MIGRATIONS_DIR
from webapp.extensions import db


def head_revision(app) -> str:
    config = app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_start_applies_all_migrations_to_a_fresh_database(fresh_database_url, app_config):
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": fresh_database_url})
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "api_keys", "contact_lists", "contacts", "alembic_version"} <= tables
        version = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == head_revision(app)
        db.engine.dispose()


def test_models_and_migrations_agree(app):
    """A model change without a migration would leave real databases behind."""
    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_restart_on_an_upgraded_database_changes_nothing(app, app_config):
    again = create_app(app_config)
    with again.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM alembic_version")) == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
        assert db.session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
        assert db.session.scalar(text("PRAGMA busy_timeout")) == 30000
