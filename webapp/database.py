"""Database engine setup and schema migrations applied on start."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from .extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record) -> None:
    """WAL lets readers and the sender's writer work at once; waiting beats 'database is locked'."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def init_app(app: Flask) -> None:
    uri = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.get_backend_name() == "sqlite" and uri.database not in (None, "", ":memory:"):
        _private_sqlite_file(Path(uri.database))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    if app.config["AUTO_MIGRATE"]:
        with app.app_context():
            upgrade_schema()


def _private_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner alone; tighten one this user made before.

    It holds the gateway token, password hashes and contacts. SQLite gives the -wal and -shm
    files beside it the database file's own mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if existing.exists() and existing.stat().st_uid == os.getuid():
                existing.chmod(0o600)


def upgrade_schema() -> None:
    """Bring the schema to the newest migration; safe when several processes start at once."""
    with _sqlite_file_lock(db.engine.url):
        flask_migrate.upgrade(directory=str(MIGRATIONS_DIR))


@contextmanager
def _sqlite_file_lock(url):
    # PostgreSQL serializes migrations with an advisory lock in migrations/env.py; SQLite has
    # no such thing, but its processes share one host, so a lock file beside it does the job.
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    with open(f"{url.database}.migrate-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
