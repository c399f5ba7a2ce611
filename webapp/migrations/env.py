"""Alembic environment: migrations run on the app's own engine, one process at a time."""

import logging

from alembic import context
from flask import current_app
from sqlalchemy import text

log = logging.getLogger("alembic.env")

# Any constant works; it only has to be the same in every process that migrates.
POSTGRES_MIGRATION_LOCK = 7_140_555_100
target_db = current_app.extensions["migrate"].db


def process_revision_directives(context, revision, directives):
    """Autogenerate writes no empty revision when the models did not change."""
    if (
        getattr(context.config.cmd_opts, "autogenerate", False)
        and directives[0].upgrade_ops.is_empty()
    ):
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online() -> None:
    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables instead.
    conf_args.setdefault("render_as_batch", target_db.engine.dialect.name == "sqlite")
    with target_db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Workers starting together wait here; the first upgrades, the rest find it done.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK}
                )
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit(
        "Offline (SQL script) migrations are not supported; run them against a database."
    )
run_migrations_online()
