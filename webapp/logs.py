"""Logging setup, with a filter that keeps gateway tokens out of every line."""

from __future__ import annotations

import logging

from flask import Flask

from .sending.gateway import RedactingFilter

# Loggers that may carry a gateway URL: httpx logs each request URL at INFO, the loopback
# sandbox server's access log holds the token in its path, and our own modules.
REDACTED_LOGGERS = ("httpx", "httpcore", "werkzeug", "webapp", "gunicorn.access", "gunicorn.error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d %(threadName)s: %(message)s"

redacting_filter = RedactingFilter()


def add_secret(secret: str | None) -> None:
    """Redact this literal text from log records from now on."""
    if secret:
        redacting_filter.tokens.add(secret)


def init_app(app: Flask) -> None:
    add_secret(app.config.get("TELEFON_IP_TOKEN"))
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if redacting_filter not in logger.filters:
            logger.addFilter(redacting_filter)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if redacting_filter not in handler.filters:
            handler.addFilter(redacting_filter)
    logging.getLogger("webapp").setLevel(app.config["LOG_LEVEL"])
