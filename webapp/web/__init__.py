"""Server-rendered pages: thin views that parse input, call one domain function and render."""

from __future__ import annotations

from flask import Flask, current_app, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..account_settings import gateway_settings
from ..accounts import has_users, user_for_session
from ..campaigns.statuses import LIVE, RECIPIENT_LABELS, can
from ..extensions import login_manager
from ..models import User
from . import audit, auth, campaigns, lists, main, optouts, saved_messages, settings

# Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "static", "switch_language"}


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(campaigns.bp)
    app.register_blueprint(lists.bp)
    app.register_blueprint(optouts.bp)
    app.register_blueprint(saved_messages.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(audit.bp)
    app.before_request(require_sign_in)
    app.jinja_env.globals["nav_items"] = main.nav_items
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["live_statuses"] = LIVE
    app.jinja_env.globals["recipient_labels"] = RECIPIENT_LABELS
    app.jinja_env.globals["sandbox_mode"] = lambda: gateway_settings(current_app.config).use_sandbox


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return user_for_session(session_id)


def require_sign_in():
    """Pages need a signed-in user; a fresh install first asks for its administrator."""
    if current_user.is_authenticated or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return None
    if not has_users():
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()
