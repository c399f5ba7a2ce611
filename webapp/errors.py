"""Error pages for people and JSON errors for the API, for every status."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _page_texts(code: int) -> tuple[str, str]:
    texts = {
        400: (_("Bad request"), _("The request could not be understood. Go back and try again.")),
        403: (_("Access denied"), _("This page is for administrators.")),
        404: (_("Page not found"), _("The page you asked for does not exist or was deleted.")),
        405: (_("Not allowed"), _("This action cannot be done this way.")),
        413: (
            _("File too large"),
            _(
                "The file is larger than %(mb)s MB. Split it or remove unneeded columns.",
                mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
            ),
        ),
        429: (_("Too many requests"), _("Wait a little and try again.")),
    }
    return texts.get(
        code, (_("Something went wrong"), _("We are sorry: the error is logged. Try again later."))
    )


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, message: str, **details: object):
    """The API's error shape: ``{"error": "<text>", ...details}`` with ``status``."""
    return jsonify(error=message, **details), status


def handle_http_error(error: HTTPException):
    code = error.code or 500
    if isinstance(error, CSRFError):
        message = _(
            "The form has expired or was sent from another site. Reload the page and try again."
        )
    elif code == 413:  # werkzeug's own text is English and says nothing of the limit
        message = _page_texts(code)[1]
    else:
        message = None
    if wants_json():
        return json_error(code, message or error.description, **getattr(error, "details", {}))
    title, text = _page_texts(code)
    return render_template(
        "errors/error.html", code=code, title=title, message=message or text
    ), code


def handle_unexpected_error(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)
