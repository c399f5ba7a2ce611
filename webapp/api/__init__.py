"""The JSON API under /api/v1: bearer API keys, JSON errors, paged lists."""

from __future__ import annotations

from flask import Blueprint, Flask, g, request
from flask_babel import gettext as _

from ..accounts import user_for_api_key
from ..errors import json_error
from ..extensions import csrf, db
from ..i18n import UserError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

OPEN_ENDPOINTS = {"api.health", "api.openapi_document"}


@bp.before_request
def authenticate():
    """Every endpoint but health and the API description needs ``Authorization: Bearer <key>``."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    scheme, __, key = request.headers.get("Authorization", "").partition(" ")
    user = user_for_api_key(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
    if user is None:
        return json_error(401, _("Missing or invalid API key: send 'Authorization: Bearer <key>'."))
    db.session.commit()  # the key's last use, when it changed
    g.api_user = user
    return None


@bp.errorhandler(UserError)
def refused(error: UserError):
    """Every refusal the domain raises, as ``{"error": ..., **details}`` with its status."""
    db.session.rollback()  # a refused request writes nothing, whatever it began
    field = error.details.get("field")
    message = error.text()
    return json_error(error.status, f"{field}: {message}" if field else message, **error.details)


@bp.get("/health")
def health():
    return {"status": "ok"}


@bp.get("/me")
def me():
    """Who the API key belongs to: a cheap way for integrations to check their key."""
    return {"email": g.api_user.email, "role": g.api_user.role}


@bp.get("/openapi.json")
def openapi_document():
    return openapi.document(request.host_url.rstrip("/") + bp.url_prefix)


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)


# The endpoint modules register their routes on ``bp`` when imported; the description after them.
from . import audit, campaigns, lists, numbers, openapi  # noqa: E402, F401
