"""Whole numbers from URLs and query strings, bounded to what the databases can look up.

SQLite refuses a Python int past 64 bits and PostgreSQL one past its 32-bit id columns outright
(a 500, not "not found"), so every id in a URL and every page number is checked here, once, for
the pages and the API alike.
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from .campaigns.service import MAX_ID

MAX_PER_PAGE = 1000  # the largest page any list shows
MAX_PAGE = (2**63 - 1) // MAX_PER_PAGE  # so that even the last page's offset fits in 64 bits


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: 1 to MAX_ID unless the route says narrower, else a 404."""

    def __init__(self, map, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID) -> None:
        super().__init__(map, fixed_digits, min, max)

    def to_python(self, value: str) -> int:
        try:
            return super().to_python(value)
        except ValidationError:
            # Nothing has this id. (Left to the router, a rule for another method on the same
            # path would turn it into a 405.)
            raise NotFound() from None


def parse_id(text: str) -> int:
    """An id from a form or query field; ValueError when it is not one (for ``args.get(type=)``)."""
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise ValueError(text)
    return value


def page_arg(name: str = "page") -> int:
    """A 1-based position (``page``, ``row``) from the query string, 1 when absent; else a 400."""
    text = request.args.get(name, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise BadRequest(
            _(
                "'%(name)s' must be a whole number from %(minimum)s to %(maximum)s.",
                name=name,
                minimum=1,
                maximum=MAX_PAGE,
            )
        )
    return value
