"""Translation markers and the one error people read, for code that must not import Flask.

Domain modules mark user-facing texts with ``N_`` where they are defined; the web and API
layers translate them with ``gettext`` where they are shown, in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def N_(message: str) -> str:
    """Mark ``message`` for extraction into the translation catalog; return it unchanged."""
    return message


class UserError(Exception):
    """A refused request that people read: ``message`` (an ``N_`` text) with ``params``.

    ``status`` follows HTTP (the API answers with it); ``details`` go into the API's error body
    as they are (``field``, ``known_columns``...). Each blueprint has one handler for it: pages
    flash ``text()``, the API answers ``{"error": text(), **details}``.
    """

    status = 422

    def __init__(
        self,
        message: str,
        params: Mapping[str, Any] | None = None,
        status: int | None = None,
        **details: Any,
    ) -> None:
        self.message = message
        self.params = dict(params or {})
        self.details = details
        if status is not None:
            self.status = status
        super().__init__(message % self.params if self.params else message)

    def text(self) -> str:
        """The message in the reader's language (the app's locale in a request)."""
        from flask_babel import gettext  # imported here: domain modules stay free of Flask

        return gettext(self.message, **self.params)
