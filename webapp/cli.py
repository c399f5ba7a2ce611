"""Command-line tools: ``flask --app webapp <command>``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from . import audit
from .accounts import AccountError, create_api_key, create_user, find_user
from .extensions import db
from .sending.sandbox import sandbox_gateway_command


@click.command("create-user")
@click.argument("email")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--admin", is_flag=True, help="Give the user the administrator role.")
@with_appcontext
def create_user_command(email: str, password: str, admin: bool) -> None:
    """Create a user who can sign in to the dashboard."""
    try:
        user = create_user(email, password, role="admin" if admin else "member")
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    audit.record(audit.Actor(), "user_created", ("user", user), audit.user_facts(user))
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}")


@click.command("create-api-key")
@click.argument("email")
@click.option("--name", default="", help="A label to recognise the key by.")
@with_appcontext
def create_api_key_command(email: str, name: str) -> None:
    """Create an API key for a user and print it (it is shown only this once)."""
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No user with e-mail {email}")
    key = create_api_key(user, name)
    audit.record(audit.Actor(), "api_key_created", ("user", user.id), {"prefix": key[:12]})
    db.session.commit()
    click.echo(f"API key for {user.email} (store it now, it is not shown again):")
    click.echo(key)


def init_app(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(create_api_key_command)
    app.cli.add_command(sandbox_gateway_command)
