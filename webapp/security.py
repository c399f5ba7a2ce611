"""Response headers that keep pages to self-hosted assets, out of frames, on HTTPS once used,
and secrets and downloads out of every cache."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, make_response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# A year: browsers that saw the site over HTTPS never try plain HTTP for it again.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def set_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        # Exports hold people's phones and messages: no copy in a browser's or proxy's cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def no_store(view: Callable[..., Any]) -> Callable[..., Response]:
    """For a view that shows a secret once: no cache, not even the back button's, keeps it."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        response = make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
