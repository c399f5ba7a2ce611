"""Server-rendered pages: thin views that parse input, call one domain function and render."""

from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..accounts import has_users
from ..extensions import db, login_manager
from ..models import User
from . import auth, main

# Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static", "switch_language"}


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.before_request(require_sign_in)
    app.jinja_env.globals["nav_items"] = main.nav_items


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def require_sign_in():
    """Pages need a signed-in user; a fresh install first asks for its administrator."""
    if current_user.is_authenticated or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return None
    if not has_users():
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()
