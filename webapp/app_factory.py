"""The Flask app: configuration, extensions, blueprints, CLI and the sender, put together."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import PACKAGE_DIR, api, cli, config, database, errors, languages, logs, security, web
from .extensions import csrf, login_manager
from .sending import factory as gateway_factory
from .sending import runner as sender_runner
from .url_numbers import IdConverter


def _asset_dir(name: str) -> str:
    """Templates and static files sit inside the package in a wheel, beside it in a checkout."""
    inside = PACKAGE_DIR / name
    return str(inside if inside.is_dir() else PACKAGE_DIR.parent / name)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app; ``VOLNA_INSTANCE_PATH`` moves instance/ (runtime data) elsewhere."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("VOLNA_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=_asset_dir("templates"),
        static_folder=_asset_dir("static"),
    )
    # Runtime data (database, secret key, uploads) is for the server's user alone.
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    config.load(app, test_config)
    logs.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    errors.init_app(app)
    cli.init_app(app)
    sender_runner.init_app(app)  # last: a sender started here finds the app complete
    return app


def register_extensions(app: Flask) -> None:
    if app.config.get("PROXY_FIX"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.session_interface = HttpsAwareSessionInterface()
    database.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    languages.init_app(app)
    security.init_app(app)
    gateway_factory.init_app(app)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added: they all use it
    web.init_app(app)
    api.init_app(app)


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the page itself came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure
